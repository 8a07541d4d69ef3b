// Alerts: the Notifier, the notify option and the webhook signature helpers.
export { Notifier } from './notifier.js';
export type { NotifierOptions } from './notifier.js';
export { notifyConfig, notifyFromEnv, resolveNotify, notifyOptionRule, DEFAULT_RULES, NOTIFY_DEFAULTS } from './options.js';
export type { NotifyOptions, NotifyRule, RuleEvent, MailChannelOptions, WebhookChannelOptions, NotifyConfig } from './options.js';
export { verifySignature, signBody, SIGNATURE_HEADER } from './signature.js';
export type { VerifySignatureOptions } from './signature.js';
export type { Alert, AlertKind, Notification, NotifierStats } from './types.js';
