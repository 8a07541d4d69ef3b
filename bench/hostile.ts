// Hostile-input benchmark (npm run bench:hostile): how long building one record takes when a field of a
// failing request holds a large text of a shape that makes backtracking patterns slow. Prints the
// fastest of a few runs per place, shape and size; the slowest case of each size comes last.
//
// BENCH_SIZES (characters, comma-separated; default 10000,100000,1000000), BENCH_PLACES and BENCH_SHAPES
// (comma-separated names; default all) narrow the run.
import { captureRecord, fastest, PLACES, SHAPES, worstInput } from '../test/fixtures/hostile';

const SIZES = (process.env.BENCH_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const ONLY_PLACES = process.env.BENCH_PLACES?.split(',');
const ONLY_SHAPES = process.env.BENCH_SHAPES?.split(',');

const places = Object.entries(PLACES).filter(([name]) => !ONLY_PLACES || ONLY_PLACES.includes(name));
const shapes = Object.entries(SHAPES).filter(([name]) => !ONLY_SHAPES || ONLY_SHAPES.includes(name));

// Warm-up, so the first measured case does not pay for compilation.
for (let i = 0; i < 20; i++) captureRecord(new Error('warm-up'), undefined);

const worst = new Map<number, { ms: number; what: string }>();
console.log(['place', 'shape', ...SIZES.map((s) => `${s} ch (ms)`)].join('\t'));
for (const [placeName, place] of places) {
  for (const [shapeName, shape] of shapes) {
    const row = [placeName, shapeName];
    for (const size of SIZES) {
      const { err, req } = place(shape(size));
      const ms = fastest(() => captureRecord(err, req), 3);
      row.push(ms.toFixed(2));
      if (ms > (worst.get(size)?.ms ?? -1)) worst.set(size, { ms, what: `${placeName}/${shapeName}` });
    }
    console.log(row.join('\t'));
  }
}
for (const size of SIZES) {
  const w = worst.get(size);
  if (w) console.log(`slowest at ${size} characters: ${w.what}, ${w.ms.toFixed(2)} ms`);
}

// The worst record: every field at its limit, of each shape.
let worstRecord = { ms: 0, shape: '' };
for (const [shapeName, shape] of shapes) {
  const { err, req } = worstInput(shape);
  const ms = fastest(() => captureRecord(err, req), 3);
  if (ms > worstRecord.ms) worstRecord = { ms, shape: shapeName };
}
console.log(`worst record (every field at its limit): ${worstRecord.ms.toFixed(2)} ms (${worstRecord.shape})`);
