// What an alert and a notification are: small, already-redacted projections of stored messages, the same
// for every channel.

/** Why an alert was raised. */
export type AlertKind = 'new' | 'regressed' | 'spike' | 'occurrence';

/** One alert: an event of one group, with the fields a reader needs and the link to the viewer. */
export interface Alert {
  kind: AlertKind;
  log: string;
  fingerprint: string;
  /** The message that raised it; absent when the group was made by occurrences counted but not kept in full. */
  id?: string | undefined;
  title: string;
  type: string;
  statusCode?: number | undefined;
  severity?: string | undefined;
  method?: string | undefined;
  url?: string | undefined;
  application?: string | undefined;
  version?: string | undefined;
  hostname?: string | undefined;
  /** ISO time of the occurrence (for a spike, the last one counted). */
  dateTime: string;
  /** With `spike`: occurrences counted within `minutes`. */
  count?: number | undefined;
  minutes?: number | undefined;
  /** The error (or its group) in the viewer, when `baseUrl` is set. */
  link?: string | undefined;
}

/** What one channel sends once: one alert, or a digest of several. */
export interface Notification {
  /** Unique per notification, the same on every retry: receivers may use it to ignore a repeat. */
  id: string;
  /** One line, plain text: the mail subject and the chat headline. */
  subject: string;
  alerts: Alert[];
  /** Alerts of this digest that were left out of `alerts` to keep it short. */
  omitted: number;
  /** True for the sample that `express-elmah notify test` sends. */
  test?: boolean | undefined;
}

/** Counters of a Notifier. */
export interface NotifierStats {
  /** Alerts raised by the rules. */
  alerts: number;
  /** Alerts not sent because their group had one within the throttle window. */
  throttled: number;
  /** Alerts counted into a digest's "and N more" without being listed (past the 20 listed, or past `maxQueue` waiting). */
  omitted: number;
  /** Alerts not sent in any form: their channel was too far behind, or the notifier closed first. */
  dropped: number;
  /** Notifications delivered, counted once per channel. */
  sent: number;
  /** Notifications a channel failed to deliver after its tries. */
  failed: number;
  /** Alerts and notifications waiting. */
  queued: number;
}
