/** The gateway's line of calls waiting for a slot: first come, first served, each wait bounded. */
import { WaitingLine } from './waiting-line';

describe('WaitingLine', () => {
  it('hands each freed slot to the call that waited longest', async () => {
    const line = new WaitingLine<string>();
    const first = line.wait(60_000);
    const second = line.wait(60_000);
    expect(line.length).toBe(2);
    expect(line.give('slot-1')).toBe(true);
    expect(line.give('slot-2')).toBe(true);
    expect(await Promise.all([first, second])).toEqual(['slot-1', 'slot-2']);
    expect(line.length).toBe(0);
  });

  it('lets a call go when its wait is over, and gives the next slot to the one still waiting', async () => {
    const line = new WaitingLine<string>();
    const short = line.wait(1);
    const long = line.wait(60_000);
    expect(await short).toBeUndefined();
    expect(line.length).toBe(1);
    expect(line.give('slot')).toBe(true);
    expect(await long).toBe('slot');
  });

  it('says when nobody waits, and does not wait at all for a bound of zero', async () => {
    const line = new WaitingLine<string>();
    expect(line.give('slot')).toBe(false);
    expect(await line.wait(0)).toBeUndefined();
    expect(line.length).toBe(0);
  });
});
