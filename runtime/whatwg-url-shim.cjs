// Bundles only: the MongoDB driver's connection-string parser requires the whatwg-url
// polyfill (about 280 KB with its Unicode tables) for a URL class Node has built in.
exports.URL = globalThis.URL;
exports.URLSearchParams = globalThis.URLSearchParams;
