// Runs once, on the first start of an empty volume: the shop's least-privilege user.
const shopdb = db.getSiblingDB('shopdb');
shopdb.createUser({
  user: 'shop',
  pwd: process.env.MONGO_SHOP_PASSWORD,
  roles: [{ role: 'readWrite', db: 'shopdb' }],
});
print('created user shop with readWrite on shopdb');
