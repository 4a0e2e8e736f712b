/**
 * The seeded randomness of the traffic generators (bench/random.ts). A load run seeds its virtual
 * shoppers one after another (seed, seed + 1, ...): their draws must be as independent as their
 * seeds are different, or every shopper arrives at the same millisecond and takes the same first
 * step, and the run measures a burst it never meant to make.
 */
import { seededRandom } from '../bench/random';

const SHOPPERS = 300;

/** How many of the shoppers' `draw`-th values fall in each tenth of [0, 1). */
function tenths(draw: number): number[] {
  const counts = Array<number>(10).fill(0);
  for (let seed = 1; seed <= SHOPPERS; seed++) {
    const random = seededRandom(seed);
    for (let i = 0; i < draw; i++) random.next();
    const tenth = Math.floor(random.next() * 10);
    counts[tenth] = (counts[tenth] ?? 0) + 1;
  }
  return counts;
}

it('gives shoppers seeded one after another draws spread over [0, 1), from their first draw on', () => {
  // The seeds fix the draws, so this is not luck: 30 are expected in each tenth, and for
  // independent draws fewer than 10 would be a one-in-300,000 event per tenth.
  for (const draw of [0, 1, 2]) expect(Math.min(...tenths(draw))).toBeGreaterThanOrEqual(10);
});

it('repeats a run exactly for the same seed', () => {
  const run = (seed: number) => {
    const random = seededRandom(seed);
    return [random.next(), random.int(1, 6), random.pick(['a', 'b', 'c']), random.shuffle([1, 2, 3, 4])];
  };
  expect(run(7)).toEqual(run(7));
  expect(run(7)).not.toEqual(run(8));
});
