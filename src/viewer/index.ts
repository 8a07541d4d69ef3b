// The viewer face: errorViewer() and its public types.
export { errorViewer } from './router.js';
export type { ErrorViewer } from './router.js';
export { ElmahTestError } from './routes/message.js';
export type { ErrorViewerOptions, ViewerAccessFunction } from './options.js';
