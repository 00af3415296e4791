// node-postgres against squall. Run by tests/tests/clients.rs; prints "ok <check>" per check.
const assert = require('assert');
const fs = require('fs');
const { Client } = require('pg');

const host = process.env.SQUALL_HOST;
const port = Number(process.env.SQUALL_PORT);

(async () => {
  const c = new Client({ host, port, user: 'squall', database: 'squall' });
  await c.connect();
  const rows = (await c.query('SELECT id, name, price FROM items ORDER BY id')).rows;
  assert.deepStrictEqual(rows.map(r => [Number(r.id), r.name, r.price]), [[1, 'apple', 0.5], [2, 'pear', 0.75], [3, null, 2]]);
  const named = await c.query({ name: 'by-id', text: 'SELECT name FROM items WHERE id = $1', values: [2] });
  assert.strictEqual(named.rows[0].name, 'pear');
  const again = await c.query({ name: 'by-id', text: 'SELECT name FROM items WHERE id = $1', values: [1] });
  assert.strictEqual(again.rows[0].name, 'apple');
  const binary = await c.query({ text: 'SELECT id FROM items WHERE id = $1', values: [3], binary: true });
  assert.strictEqual(binary.rows.length, 1);
  console.log('ok queries, named prepared statements, parameters, binary results');
  // node-postgres parses text floats with parseFloat, which reads Infinity but not inf.
  const forms = (await c.query("SELECT 'Infinity'::float8 AS i, '-Infinity'::float8 AS n, 1e20::float8 AS e, TIMESTAMP '2024-01-02 03:04:05.5' AS t")).rows[0];
  assert.deepStrictEqual([forms.i, forms.n, forms.e], [Infinity, -Infinity, 1e20]);
  assert.strictEqual(forms.t.getMilliseconds(), 500);
  console.log('ok floats and timestamps in PostgreSQL text forms');
  await assert.rejects(c.query('SELECT nosuch FROM items'), e => e.code === '42703');
  console.log('ok errors carry SQLSTATE');
  await c.end();

  const tls = new Client({
    host: 'localhost', port, database: 'squall', user: process.env.SQUALL_USER, password: process.env.SQUALL_PASSWORD,
    ssl: { ca: fs.readFileSync(process.env.SQUALL_CA), rejectUnauthorized: true },
  });
  await tls.connect();
  assert.strictEqual(Number((await tls.query('SELECT count(*) AS n FROM items')).rows[0].n), 3);
  await tls.end();
  console.log('ok SCRAM-SHA-256 over verified TLS');
  const wrong = new Client({ host, port, database: 'squall', user: process.env.SQUALL_USER, password: 'wrong' });
  await assert.rejects(wrong.connect(), e => e.code === '28P01');
  console.log('ok wrong password refused with 28P01');
})().catch(e => { console.error(e); process.exit(1); });
