// Public API of express-elmah: re-exports only.
export { ElmahError, ElmahConfigError, ERROR_CODES, isElmahError } from './model/errors.js';
export type { ElmahErrorCode, ElmahErrorOptions } from './model/errors.js';
export { PERMISSIONS, DEFAULT_PERMISSIONS, isPermission, parsePermissions } from './model/permissions.js';
export type { Permission } from './model/permissions.js';
export { createKey, parseKey, keyIdOf, KEY_PATTERN } from './model/keys.js';
export type { KeyRecord, KeyInfo, NewKey, CreateKeyOptions } from './model/keys.js';
export { SEVERITIES, normalizeMessage, MAX_MESSAGE_BYTES, MAX_FORM_BYTES } from './model/message.js';
export type { ErrorMessage, MessageInput, KeyValue, Severity, FieldError, Breadcrumb, SourceContext } from './model/message.js';
export { newMessageId } from './model/id.js';
export { computeFingerprint } from './model/fingerprint.js';
export { parseStack } from './model/stack.js';
export type { StackFrame } from './model/stack.js';
export { parseQuery, tokenize, queryFields } from './model/query.js';
export type { QueryNode } from './model/query.js';
export { matchesQuery } from './model/query-eval.js';
export {
  GROUP_STATUSES,
  isGroupStatus,
  normalizeGroupChange,
  occurrenceEffect,
  compareSemver,
  MAX_GROUPS_PER_CHANGE,
} from './model/triage.js';
export type { GroupState, GroupStatus, GroupChange, Occurrence, OccurrenceEffect } from './model/triage.js';
export { MemoryStore } from './stores/memory.js';
export type { MemoryStoreOptions } from './stores/memory.js';
export { SqliteStore } from './stores/sqlite/index.js';
export type { SqliteDatabase, SqliteStoreOptions } from './stores/sqlite/index.js';
export { PostgresStore } from './stores/postgres/index.js';
export type { PostgresStoreOptions, PgPoolLike, PgClientLike } from './stores/postgres/index.js';
export { openStore, resolveStoreUrl, DEFAULT_STORE_URL } from './stores/open.js';
export type { OpenStoreOptions } from './stores/open.js';
export { DEFAULT_RETENTION, isStore } from './stores/types.js';
export type * from './stores/types.js';
export { LocalLogClient } from './client/local.js';
export type { LocalLogClientOptions } from './client/local.js';
export { connect } from './client/connect.js';
export type { ConnectOptions } from './client/connect.js';
export type { StoreOption } from './client/open-log.js';
export { isLogClient } from './client/types.js';
export type * from './client/types.js';
export { RemoteLogClient, parseRetryAfter } from './client/remote.js';
export type { RemoteLogClientOptions } from './client/remote.js';
export { collector, TokenBuckets, DEFAULT_RATE_LIMIT, DEFAULT_MAX_BULK_BYTES, DEFAULT_MAX_BULK_MESSAGES } from './collector/index.js';
export type { CollectorOptions, CollectorRouter, RateLimitOptions } from './collector/index.js';
export { errorLogger } from './capture/logger.js';
export type { ErrorLogger } from './capture/logger.js';
export type { ErrorLoggerOptions, BeforeLogResult } from './capture/options.js';
export { addBreadcrumb, withBreadcrumbs } from './capture/breadcrumbs.js';
export type { BreadcrumbInput } from './capture/breadcrumbs.js';
export type { ShipperStats } from './capture/queue.js';
export { classifyFailure } from './capture/queue.js';
export {
  DEFAULT_REDACT_HEADERS,
  DEFAULT_REDACT_KEYS,
  DEFAULT_REDACT_PARAMS,
  DEFAULT_TOKEN_PATH_WORDS,
  redactMessage,
} from './model/redact.js';
export type { RedactOptions, NameRule } from './model/redact.js';
export { verifySignature, SIGNATURE_HEADER, DEFAULT_RULES } from './notify/index.js';
export type {
  NotifyOptions,
  NotifyRule,
  RuleEvent,
  MailChannelOptions,
  WebhookChannelOptions,
  VerifySignatureOptions,
  Alert,
  AlertKind,
  Notification,
  NotifierStats,
} from './notify/index.js';
export { errorViewer, ElmahTestError } from './viewer/index.js';
export type { ErrorViewer, ErrorViewerOptions, ViewerAccessFunction } from './viewer/index.js';
