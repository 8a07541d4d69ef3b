// Links under the viewer's mount point, whatever path the app mounted it at.
import type { Request } from 'express';

/** The mount path as a safe prefix for links: never protocol-relative, never ending in "/". */
export function baseOf(req: Request): string {
  return req.baseUrl.replace(/^\/+/, '/').replace(/\/+$/, '');
}

/** A link under the mount point with query parameters. */
export function href(base: string, path: string, query: Record<string, string> = {}): string {
  const qs = new URLSearchParams(query).toString();
  return `${base}${path}${qs ? `?${qs}` : ''}`;
}
