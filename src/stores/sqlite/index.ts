// The SQLite backend: the store, its options and its error mapping.
export { SqliteStore, type SqliteDatabase, type SqliteStoreOptions } from './store.js';
export { sqliteError } from './driver.js';
export { SCHEMA_VERSION } from './schema.js';
