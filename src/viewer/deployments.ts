// Deployments as the viewer reads them: whether the key may, the window each version was live in, and how
// each version performed (errors, new groups and regressions in its window), read with a bounded number of store calls.
import type { ErrorGroup, LogClient } from '../client/types.js';
import type { Deployment } from '../model/deployment.js';
import { isElmahError } from '../model/errors.js';
import type { KeyInfo } from '../model/keys.js';
import { hasPermission } from '../model/permissions.js';
import type { ViewerCaches } from './caches.js';

/** The command that makes a key the viewer can read deployments with. */
export const DEPLOYMENTS_KEY_COMMAND = 'express-elmah keys create --permissions messages_read,deployments_read';
/** Most groups read while looking for the new groups of one page of deployments. */
export const MAX_GROUPS_WALKED = 2000;
/** Groups read per call of that walk. */
const GROUPS_STEP = 200;
/** New groups named under each deployment. */
const NEW_GROUP_SAMPLES = 3;

/** True when the key may read deployments. */
export function canReadDeployments(who: KeyInfo): boolean {
  return hasPermission(who, 'deployments_read');
}

/**
 * The deployments a chart or the list shows next to its errors: none when the key may not read them, or when
 * reading them fails (they only annotate the errors, which are shown either way).
 */
export async function deploymentsToShow(
  client: LogClient,
  who: KeyInfo,
  caches: Pick<ViewerCaches, 'deploymentsOf'>,
  log: string | undefined,
): Promise<Deployment[]> {
  if (!canReadDeployments(who)) return [];
  try {
    return await caches.deploymentsOf(client, log);
  } catch (err) {
    if (isElmahError(err)) return [];
    throw err;
  }
}

/** Deployments whose time falls in [from, to], oldest first. */
export function deploymentsBetween(deployments: readonly Deployment[], from: string, to: string): Deployment[] {
  const lo = Date.parse(from);
  const hi = Date.parse(to);
  return deployments
    .filter((d) => {
      const t = Date.parse(d.created);
      return t >= lo && t <= hi;
    })
    .reverse();
}

/** The time a version was live: from its deployment until the next one that replaced it (or until now). */
export interface DeploymentWindow {
  deployment: Deployment;
  /** The log whose errors count: the deployment's own, else the viewed log; undefined for every log. */
  log: string | undefined;
  from: string;
  /** The next deployment's time; undefined while the version is still the latest. */
  to: string | undefined;
}

/**
 * The window of each deployment (`deployments` newest first, as listed for `viewedLog`). A deployment of one log
 * is replaced by the next one of that log or of every log; a deployment of every log by the next one of every log
 * or, when one log is viewed, of that log.
 */
export function deploymentWindows(deployments: readonly Deployment[], viewedLog: string | undefined): DeploymentWindow[] {
  return deployments.map((d, i) => {
    const log = d.log ?? viewedLog;
    let to: string | undefined;
    for (let j = i - 1; j >= 0; j--) {
      const newer = deployments[j]!;
      if (newer.log === undefined || (log !== undefined && newer.log === log)) {
        to = newer.created;
        break;
      }
    }
    return { deployment: d, log, from: d.created, to };
  });
}

/** How one version performed in its window. */
export interface VersionPerformance {
  window: DeploymentWindow;
  /** Errors stored in the window, for its log. */
  errors: number;
  /** False when the count stopped at the store's cap. */
  errorsExact: boolean;
  /** Groups first seen in the window, for its log. */
  newGroups: number;
  /** False when the walk over the groups stopped at {@link MAX_GROUPS_WALKED}: `newGroups` is then a lower bound. */
  newGroupsExact: boolean;
  /** Up to three of those groups, the most frequent first. */
  newGroupSamples: ErrorGroup[];
  /**
   * Resolved groups that came back in the window (their regression mark, which stays until someone changes the
   * group's state again). A lower bound like `newGroups` when the walk stopped early.
   */
  regressions: number;
  /** Up to three of those groups, the most frequent first. */
  regressionSamples: ErrorGroup[];
}

function inWindow(t: string, w: DeploymentWindow): boolean {
  return t >= w.from && (w.to === undefined || t < w.to);
}

/**
 * Errors and new groups of each window: one count per window, and one walk over the groups, most recently seen
 * first, that ends at the oldest window's start (a group first seen after it was last seen after it too) or after
 * {@link MAX_GROUPS_WALKED} groups.
 */
export async function versionPerformance(
  client: LogClient,
  windows: readonly DeploymentWindow[],
  viewedLog: string | undefined,
): Promise<VersionPerformance[]> {
  if (windows.length === 0) return [];
  const counts = Promise.all(windows.map((w) => client.search({ log: w.log, from: w.from, to: w.to, size: 1 })));
  const oldest = windows.reduce((min, w) => (w.from < min ? w.from : min), windows[0]!.from);
  const found: ErrorGroup[][] = windows.map(() => []);
  const regressed: ErrorGroup[][] = windows.map(() => []);
  let walked = 0;
  let complete = false;
  for (let page = 0; walked < MAX_GROUPS_WALKED; page++) {
    const r = await client.groups({ log: viewedLog, page, size: GROUPS_STEP });
    for (const g of r.groups) {
      windows.forEach((w, i) => {
        if (w.log !== undefined && g.log !== w.log) return;
        if (inWindow(g.firstSeen, w)) found[i]!.push(g);
        // A regression happened at or before the group's last occurrence, so the walk's end holds for it too.
        if (g.state.regressed && g.state.regressedAt !== undefined && inWindow(g.state.regressedAt, w)) regressed[i]!.push(g);
      });
    }
    walked += r.groups.length;
    const last = r.groups[r.groups.length - 1];
    if (r.groups.length < GROUPS_STEP || !last || last.lastSeen < oldest || walked >= r.total) {
      complete = true;
      break;
    }
  }
  const searched = await counts;
  return windows.map((window, i) => ({
    window,
    errors: searched[i]!.total,
    errorsExact: searched[i]!.totalExact,
    newGroups: found[i]!.length,
    newGroupsExact: complete,
    newGroupSamples: mostFrequent(found[i]!),
    regressions: regressed[i]!.length,
    regressionSamples: mostFrequent(regressed[i]!),
  }));
}

function mostFrequent(groups: readonly ErrorGroup[]): ErrorGroup[] {
  return [...groups].sort((a, b) => b.count - a.count).slice(0, NEW_GROUP_SAMPLES);
}

/** The search that lists a window's errors: `dateTime:[from TO to}`. */
export function windowQuery(w: Pick<DeploymentWindow, 'from' | 'to'>): string {
  return `dateTime:[${w.from} TO ${w.to === undefined ? '*]' : `${w.to}}`}`;
}
