// The PostgreSQL store's public face: the store, its options and the pool shape it accepts.
export { PostgresStore, type PostgresStoreOptions } from './store.js';
export { DEFAULT_SCHEMA, type PgClientLike, type PgPoolLike } from './driver.js';
