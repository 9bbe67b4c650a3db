// The Express equivalent of falcon_app, for benchmarks/api_bench.py only: the same
// routes, auth, validation, model (the same iris_softmax.json), JSON access log line
// and in-process metrics, served by a node cluster (WORKERS processes, default 2).
'use strict';
const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const WORKERS = Number(process.env.WORKERS || 2);
const PORT = Number(process.env.PORT || 8000);

if (cluster.isPrimary) {
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  cluster.on('exit', (worker, code) => { if (code) process.exit(code); });
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); });
} else {
  const express = require('express');
  const model = JSON.parse(fs.readFileSync(path.join(__dirname, '../../falcon_app/model/iris_softmax.json')));
  const keys = (process.env.API_KEYS || '').split(',').filter(Boolean)
    .map((k) => crypto.createHash('sha256').update(k.trim()).digest());
  const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
  const metrics = new Map();
  const fail = (res, status, error, detail) => res.status(status).json({ error, detail });

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((req, res, next) => {
    const given = req.get('x-request-id');
    req.id = given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : crypto.randomUUID().replace(/-/g, '');
    res.set('X-Request-ID', req.id);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.route ? req.route.path : '(unmatched)';
      const key = `${route}|${req.method}|${res.statusCode}`;
      const m = metrics.get(key) || { count: 0, sum: 0, buckets: new Array(BUCKETS.length + 1).fill(0) };
      m.count++; m.sum += seconds;
      const i = BUCKETS.findIndex((b) => seconds <= b);
      m.buckets[i < 0 ? BUCKETS.length : i]++;
      metrics.set(key, m);
      process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), level: 'info', msg: 'request',
        request_id: req.id, method: req.method, path: req.path, route, status: res.statusCode,
        duration_ms: seconds * 1000, remote: req.ip, user_agent: req.get('user-agent') }) + '\n');
    });
    next();
  });
  const requireKey = (req, res, next) => {
    const auth = req.get('authorization') || '';
    const key = req.get('x-api-key') || (/^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : '');
    const digest = crypto.createHash('sha256').update(key).digest();
    const ok = key && keys.map((k) => crypto.timingSafeEqual(k, digest)).some(Boolean);
    return ok ? next() : fail(res, 401, 'unauthorized', key ? 'invalid API key' : 'missing API key');
  };

  app.get('/health', (req, res) => res.json({ status: 'ok' }));
  app.post('/api/infer', requireKey, (req, res, next) => {
    if (!req.is('application/json')) return fail(res, 415, 'unsupported_media_type', 'send application/json');
    next();
  }, express.json({ limit: 1 << 20, strict: false }), (req, res) => {
    const doc = req.body;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return fail(res, 422, 'unprocessable_content', '(body): expected a JSON object');
    const rows = doc.instances;
    if (!Array.isArray(rows) || rows.length < 1 || rows.length > 256) return fail(res, 422, 'unprocessable_content', 'instances: expected 1 to 256 rows');
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (!Array.isArray(row) || row.length !== model.features.length) return fail(res, 422, 'unprocessable_content', `instances[${i}]: expected ${model.features.length} numbers`);
      for (let j = 0; j < row.length; j++) {
        if (typeof row[j] !== 'number' || !Number.isFinite(row[j]) || Math.abs(row[j]) > 1e6) return fail(res, 422, 'unprocessable_content', `instances[${i}][${j}]: expected a number`);
      }
    }
    const predictions = rows.map((row) => {
      const logits = model.weights.map((w, k) => model.bias[k] + w.reduce((s, wj, j) => s + wj * row[j], 0));
      const top = Math.max(...logits);
      const exps = logits.map((z) => Math.exp(z - top));
      const total = exps.reduce((a, b) => a + b, 0);
      const probs = exps.map((e) => e / total);
      const best = probs.indexOf(Math.max(...probs));
      return { label: model.classes[best], probabilities: Object.fromEntries(model.classes.map((c, k) => [c, probs[k]])) };
    });
    res.json({ model: model.model_id, predictions });
  });
  app.use((req, res) => fail(res, 404, 'not_found', `no such path: ${req.path}`));
  app.use((err, req, res, next) => fail(res, err.status || 500, err.status === 413 ? 'content_too_large' : 'bad_request', err.message));
  app.listen(PORT, '127.0.0.1');
}
