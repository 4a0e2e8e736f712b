import { applyCartChange, priceCart } from './cart';
import { product } from '../test/support/fixtures';

describe('cart rules', () => {
  const lines = [{ productId: 'a', quantity: 2 }];

  it('merges an added product into its line and appends new products', () => {
    expect(applyCartChange(lines, { kind: 'add', productId: 'a', quantity: 3 })).toEqual([{ productId: 'a', quantity: 5 }]);
    expect(applyCartChange(lines, { kind: 'add', productId: 'b', quantity: 1 })).toEqual([...lines, { productId: 'b', quantity: 1 }]);
  });

  it('sets a quantity, and 0 removes the line', () => {
    expect(applyCartChange(lines, { kind: 'set', productId: 'a', quantity: 7 })).toEqual([{ productId: 'a', quantity: 7 }]);
    expect(applyCartChange(lines, { kind: 'set', productId: 'a', quantity: 0 })).toEqual([]);
    expect(applyCartChange(lines, { kind: 'clear' })).toEqual([]);
  });

  it('refuses more than 99 of one product', () => {
    expect(() => applyCartChange([{ productId: 'a', quantity: 98 }], { kind: 'add', productId: 'a', quantity: 2 })).toThrow(
      expect.objectContaining({ status: 409, code: 'CONFLICT' }),
    );
  });

  it('prices lines from the catalog and drops lines whose product is gone', () => {
    const cart = priceCart('s', [{ productId: 'a', quantity: 2 }, { productId: 'gone', quantity: 1 }, { productId: 'b', quantity: 3 }], [
      product({ id: 'a', name: 'A', priceCents: 250 }),
      product({ id: 'b', name: 'B', priceCents: 1000 }),
    ]);
    expect(cart).toEqual({
      shopperId: 's',
      items: [
        { productId: 'a', name: 'A', priceCents: 250, quantity: 2 },
        { productId: 'b', name: 'B', priceCents: 1000, quantity: 3 },
      ],
      totalCents: 3500,
    });
  });
});
