// The example shop: an Express 5 app whose routes fail the way real apps fail, logged with express-elmah.
import express from 'express';
// The package by its own name, exactly as an app that installed it would write it. Inside this repository
// Node resolves the name to the root package's `exports` (a package may import itself by name).
import { addBreadcrumb, errorLogger, errorViewer } from 'express-elmah';

const orders = new Map([
  ['1', { id: '1', item: 'Coffee beans, 1 kg', total: 24.5 }],
  ['2', { id: '2', item: 'Grinder', total: 89 }],
]);

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Stands in for a database driver that cannot reach its server. */
async function querySales() {
  await wait(5);
  const err = new Error('relation "sales_2026" does not exist');
  err.code = '42P01';
  throw err;
}

/** Stands in for a payment provider that answers too slowly. */
async function chargeCard(ms) {
  await wait(ms);
  const err = new Error(`Payment provider did not answer within ${ms} ms`);
  err.name = 'TimeoutError';
  err.provider = 'acme-pay';
  throw err;
}

/** Escapes text for HTML: everything an error or a request holds is untrusted. */
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function page(title, body) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  code, pre { background: #f3f3f3; border-radius: 4px; padding: 0 .25rem; }
  pre { padding: .75rem; overflow-x: auto; }
  li { margin: .4rem 0; }
  .note { color: #666; font-size: .9em; }
  form { border: 1px solid #ddd; border-radius: 6px; padding: .75rem; }
  label { display: block; margin: .25rem 0; }
</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function homePage(req, res) {
  const origin = `${req.protocol}://${req.get('host') ?? 'localhost'}`;
  res.type('html').send(
    page(
      'express-elmah example shop',
      `<h1>express-elmah example shop</h1>
<p>Each link below fails the way real apps fail. The error logger records the failure, the app shows
its own friendly error page, and <a href="/elmah.axd/">the error log at /elmah.axd</a> shows what was recorded.</p>
<ul>
  <li><a href="/products/7">A synchronous throw</a> — a handler reads a property of <code>undefined</code> (TypeError).</li>
  <li><a href="/report">A rejected async handler</a> — the database query rejects; Express 5 passes it on.</li>
  <li><a href="/report/monthly">An error with a <code>cause</code></a> — the report fails because the query failed; the log keeps both.</li>
  <li><a href="/stock">A non-Error throw</a> — <code>throw 'Out of stock: SKU-42'</code>, a string and no stack.</li>
  <li><a href="/checkout/slow?ms=1500">An error in a slow handler</a> — the payment provider times out after 1.5 s.</li>
  <li><a href="/orders/42">A 404 passed to <code>next</code></a> — <em>not</em> logged: by default the logger records
    status 500 and up (option <code>filter</code> changes that). <a href="/orders/1">Order 1</a> exists.</li>
  <li><a href="/newsletter">A handled error</a> — caught by the app, logged with <code>logger.raise(err, req)</code>, page answers 200.</li>
  <li><a href="/elmah.axd/test">The viewer's test error</a> — raised by the viewer, recorded by the app's logger.</li>
</ul>
<h2>A form with a password</h2>
<form method="post" action="/signup">
  <label>Email <input name="email" type="email" value="ada@example.com"></label>
  <label>Password <input name="password" type="password" value="correct horse battery staple"></label>
  <button type="submit">Sign up (fails)</button>
</form>
<p class="note">The sign-up fails after reading the body. Open the error in the log: the form shows
<code>email</code>, and <code>password</code> as <code>[Filtered]</code>.</p>
<h2>A JSON body with secrets</h2>
<pre>curl -i -X POST ${escapeHtml(origin)}/api/orders \\
  -H 'content-type: application/json' \\
  -d '{"item":"coffee","quantity":2,"card":"4111 1111 1111 1111","password":"hunter2"}'</pre>
<p class="note">The order fails validation in a way the code did not expect; the log shows the body with
<code>card</code> and <code>password</code> filtered.</p>
<p><a href="/elmah.axd/"><strong>Open the error log →</strong></a></p>`,
    ),
  );
}

function productPage(req, res) {
  const products = { 1: { name: 'Coffee beans', price: { amount: 24.5 } } };
  const product = products[req.params.id];
  // The classic: there is no product 7, so this reads `.name` of undefined.
  res.send(`${product.name} costs ${product.price.amount}`);
}

async function salesReport(_req, res) {
  const rows = await querySales();
  res.json(rows);
}

async function monthlyReport(_req, res) {
  try {
    res.json(await querySales());
  } catch (err) {
    throw new Error('Could not build the monthly report', { cause: err });
  }
}

function stock() {
  // Some libraries throw strings; the log records the value with type "string".
  throw 'Out of stock: SKU-42';
}

async function slowCheckout(req, res) {
  const ms = Math.min(Math.max(Number.parseInt(String(req.query.ms ?? '1500'), 10) || 0, 0), 5000);
  await chargeCard(ms);
  res.send('paid');
}

function orderPage(req, res, next) {
  const order = orders.get(req.params.id);
  if (!order) {
    const err = new Error(`Order ${req.params.id} not found`);
    err.status = 404;
    err.expose = true;
    return next(err);
  }
  res.json(order);
}

function signUp(req) {
  const email = String(req.body?.email ?? '');
  throw new Error(`Could not create the account for ${email}: the mail service rejected the address`);
}

function createOrder(req) {
  const { item, quantity } = req.body ?? {};
  // What the request did before it failed shows as a timeline on the error's page: console lines, outgoing
  // HTTP requests, and steps the app names itself.
  console.info(`new order: ${quantity} x ${item}`);
  addBreadcrumb({ action: 'Checkout', message: 'validating the order', data: { item: String(item) } });
  // A validation bug: `quantity` is a number, so `.trim` is not a function.
  if (quantity.trim() === '') throw new Error('quantity is required');
}

function handledNewsletter(logger) {
  return async function newsletter(req, res) {
    try {
      await wait(5);
      throw new Error('Newsletter service is down; showing the cached issue instead');
    } catch (err) {
      // Handled: the visitor gets a page, the team still hears about it.
      logger.raise(err, req);
      res
        .type('html')
        .send(page('Newsletter', '<h1>Newsletter</h1><p>This is the cached issue. (An error was logged.)</p><p><a href="/">Back</a></p>'));
    }
  };
}

/** The app's own error handler, after the logger: a friendly page, never the error's details for a 500. */
function friendlyErrorPage(err, req, res, next) {
  if (res.headersSent) return next(err);
  const raw = typeof err === 'object' && err !== null ? (err.status ?? err.statusCode) : undefined;
  const status = Number.isInteger(raw) && raw >= 400 && raw <= 599 ? raw : 500;
  const text = status < 500 && err.expose ? err.message : 'Something went wrong on our side. It has been logged, and we are on it.';
  res
    .status(status)
    .type('html')
    .send(
      page(
        `Error ${status}`,
        `<h1>Sorry! (${status})</h1><p>${escapeHtml(text)}</p><p><a href="/">Back to the shop</a> · <a href="/elmah.axd/">Error log</a></p>`,
      ),
    );
}

/**
 * Builds the app. The logger and the viewer take their keys and store from the environment
 * (ELMAH_WRITE_KEY, ELMAH_READ_KEY, ELMAH_STORE), which start.mjs loads from example-app/.env.
 */
export async function createApp() {
  const app = express();
  app.use(express.urlencoded({ extended: false, limit: '10kb' }));
  app.use(express.json({ limit: '10kb' }));

  const logger = errorLogger({ application: 'example-shop' });

  app.get('/', homePage);
  app.get('/products/:id', productPage);
  app.get('/report', salesReport);
  app.get('/report/monthly', monthlyReport);
  app.get('/stock', stock);
  app.get('/checkout/slow', slowCheckout);
  app.get('/orders/:id', orderPage);
  app.get('/newsletter', handledNewsletter(logger));
  app.post('/signup', signUp);
  app.post('/api/orders', createOrder);

  // The viewer. Local-only by default (requests from this machine to localhost, not through a proxy);
  // with NODE_ENV=production it asks for a sign-in with a read key instead.
  const viewer = await errorViewer();
  app.use('/elmah.axd', viewer);

  // After the routes (and the viewer, so its test error is logged): record, then pass the error on.
  app.use(logger);
  app.use(friendlyErrorPage);

  return { app, logger, viewer };
}
