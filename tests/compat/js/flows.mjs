// supabase-js flows against a live `backstack serve`; run by tests/compat/test_supabase_js.py.
// usage: node flows.mjs <auth|anonymous|mfa|admin|data|realtime|changes>   (env: BACKSTACK_URL, ANON_KEY, SERVICE_KEY)
// Each flow asserts as it goes and exits non-zero with the failing step on stderr.
import assert from 'node:assert/strict'
import { createHmac, randomUUID } from 'node:crypto'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'

const url = process.env.BACKSTACK_URL
const anonKey = process.env.ANON_KEY
const serviceKey = process.env.SERVICE_KEY
const PASSWORD = 'correct horse battery'

// Node 20 has no global WebSocket: realtime gets the `ws` package.
const options = { auth: { autoRefreshToken: false, persistSession: false }, realtime: { transport: WebSocket } }
const client = (key = anonKey) => createClient(url, key, options)
const email = (tag) => `${tag}-${randomUUID().slice(0, 8)}@example.com`

function ok(result, step) {
  if (result.error) throw new Error(`${step}: ${result.error.name} ${result.error.status} ${result.error.code}: ${result.error.message}`)
  return result.data
}

function claims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) over the base32 secret the server enrolled.
function totp(secret, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const ch of secret.replace(/=+$/, '')) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0')
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)))
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)))
  const mac = createHmac('sha1', key).update(counter).digest()
  const offset = mac[mac.length - 1] & 0xf
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000
  return String(value).padStart(6, '0')
}

const flows = {
  async auth() {
    const sb = client()
    const address = email('js')
    const signedUp = ok(await sb.auth.signUp({ email: address, password: PASSWORD, options: { data: { plan: 'free' } } }), 'signUp')
    assert.equal(signedUp.user.email, address)
    assert.ok(signedUp.session?.access_token, 'signUp returns a session (autoconfirm)')
    assert.equal(signedUp.user.user_metadata.plan, 'free')
    const repeated = await sb.auth.signUp({ email: address, password: PASSWORD })
    assert.equal(repeated.error?.code, 'user_already_exists')

    const signedIn = ok(await sb.auth.signInWithPassword({ email: address, password: PASSWORD }), 'signInWithPassword')
    assert.equal(signedIn.user.id, signedUp.user.id)
    const token = claims(signedIn.session.access_token)
    assert.equal(token.role, 'authenticated')
    assert.equal(token.sub, signedUp.user.id)
    const wrong = await sb.auth.signInWithPassword({ email: address, password: 'not the password' })
    assert.equal(wrong.error?.code, 'invalid_credentials')

    const refreshed = ok(await sb.auth.refreshSession(), 'refreshSession')
    assert.notEqual(refreshed.session.refresh_token, signedIn.session.refresh_token)
    const { user } = ok(await sb.auth.getUser(), 'getUser')
    assert.equal(user.email, address)
    const session = ok(await sb.auth.getSession(), 'getSession').session
    assert.equal(session.access_token, refreshed.session.access_token)

    // the data API as the signed-in user
    const todos = ok(await sb.from('todos').select(), 'select todos as the user')
    assert.ok(Array.isArray(todos))

    ok(await sb.auth.signOut(), 'signOut')
    assert.equal(ok(await sb.auth.getSession(), 'getSession after signOut').session, null)
    const stale = await client().auth.refreshSession({ refresh_token: refreshed.session.refresh_token })
    assert.ok(stale.error, 'the refresh token dies with the session')
  },

  async updateUser() {
    const sb = client()
    const address = email('upd')
    ok(await sb.auth.signUp({ email: address, password: PASSWORD }), 'signUp')
    const updated = ok(await sb.auth.updateUser({ data: { theme: 'dark' } }), 'updateUser')
    assert.equal(updated.user.user_metadata.theme, 'dark')
    assert.equal(ok(await sb.auth.getUser(), 'getUser').user.user_metadata.theme, 'dark')
  },

  async anonymous() {
    const sb = client()
    const data = ok(await sb.auth.signInAnonymously({ options: { data: { cart: 3 } } }), 'signInAnonymously')
    assert.equal(data.user.is_anonymous, true)
    assert.equal(data.user.user_metadata.cart, 3)
    assert.equal(claims(data.session.access_token).is_anonymous, true)
    assert.equal(ok(await sb.auth.getUser(), 'getUser').user.id, data.user.id)
    ok(await sb.from('todos').select('id').limit(1), 'select as an anonymous user')
    const enroll = await sb.auth.mfa.enroll({ factorType: 'totp' })
    assert.equal(enroll.error?.status, 403, 'anonymous users cannot enroll MFA')
  },

  async mfa() {
    const sb = client()
    const address = email('mfa')
    ok(await sb.auth.signUp({ email: address, password: PASSWORD }), 'signUp')
    const factor = ok(await sb.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'authenticator' }), 'mfa.enroll')
    assert.equal(factor.type, 'totp')
    assert.ok(factor.totp.qr_code.startsWith('data:image/svg+xml;utf-8,<svg'), factor.totp.qr_code.slice(0, 40))
    assert.ok(factor.totp.uri.startsWith('otpauth://totp/'))
    const before = ok(await sb.auth.mfa.getAuthenticatorAssuranceLevel(), 'aal before')
    assert.equal(before.currentLevel, 'aal1')

    const challenge = ok(await sb.auth.mfa.challenge({ factorId: factor.id }), 'mfa.challenge')
    const bad = await sb.auth.mfa.verify({ factorId: factor.id, challengeId: challenge.id, code: '000000' === totp(factor.totp.secret) ? '111111' : '000000' })
    assert.equal(bad.error?.code, 'mfa_verification_failed')
    const verified = ok(await sb.auth.mfa.verify({ factorId: factor.id, challengeId: challenge.id, code: totp(factor.totp.secret) }), 'mfa.verify')
    assert.equal(claims(verified.access_token).aal, 'aal2')
    const after = ok(await sb.auth.mfa.getAuthenticatorAssuranceLevel(), 'aal after')
    assert.equal(after.currentLevel, 'aal2')
    assert.ok(after.currentAuthenticationMethods.some((m) => m.method === 'totp'))
    const factors = ok(await sb.auth.mfa.listFactors(), 'mfa.listFactors')
    assert.deepEqual(factors.totp.map((f) => f.id), [factor.id])

    // the same code again is refused; the next step's code works once
    const replay = await sb.auth.mfa.challengeAndVerify({ factorId: factor.id, code: totp(factor.totp.secret) })
    assert.equal(replay.error?.code, 'mfa_verification_failed')
    ok(await sb.auth.mfa.challengeAndVerify({ factorId: factor.id, code: totp(factor.totp.secret, Date.now() + 30_000) }), 'challengeAndVerify')

    ok(await sb.auth.mfa.unenroll({ factorId: factor.id }), 'mfa.unenroll')
    assert.deepEqual(ok(await sb.auth.mfa.listFactors(), 'listFactors after unenroll').totp, [])
  },

  async admin() {
    const admin = client(serviceKey).auth.admin
    const address = email('adm')
    const created = ok(await admin.createUser({ email: address, password: PASSWORD, email_confirm: true, user_metadata: { by: 'admin' } }), 'admin.createUser')
    assert.equal(created.user.email, address)
    const again = await admin.createUser({ email: address })
    assert.equal(again.error?.code, 'email_exists')
    ok(await admin.createUser({ email: email('adm2') }), 'admin.createUser 2')

    const page = ok(await admin.listUsers({ page: 1, perPage: 1 }), 'admin.listUsers')
    assert.equal(page.users.length, 1)
    assert.ok(page.total >= 2, `total ${page.total}`)
    assert.equal(page.nextPage, 2)
    assert.ok(page.lastPage >= 2)

    const fetched = ok(await admin.getUserById(created.user.id), 'admin.getUserById')
    assert.equal(fetched.user.user_metadata.by, 'admin')
    const updated = ok(await admin.updateUserById(created.user.id, { app_metadata: { tier: 'gold' } }), 'admin.updateUserById')
    assert.equal(updated.user.app_metadata.tier, 'gold')

    // the user signs in; a ban ends that session
    const sb = client()
    ok(await sb.auth.signInWithPassword({ email: address, password: PASSWORD }), 'sign in as the created user')
    ok(await admin.updateUserById(created.user.id, { ban_duration: '24h' }), 'ban')
    const banned = await client().auth.signInWithPassword({ email: address, password: PASSWORD })
    assert.equal(banned.error?.code, 'user_banned')
    assert.ok((await sb.auth.refreshSession()).error, 'the banned user cannot refresh')

    const factors = ok(await admin.mfa.listFactors({ userId: created.user.id }), 'admin.mfa.listFactors')
    assert.deepEqual(factors.factors, [])
    ok(await admin.deleteUser(created.user.id), 'admin.deleteUser')
    const gone = await admin.getUserById(created.user.id)
    assert.equal(gone.error?.status, 404)

    const notAdmin = await client().auth.admin.listUsers()
    assert.equal(notAdmin.error?.status, 403)
  },

  async data() {
    const sb = client()
    const books = ok(await sb.from('books').select('title, pages, author:authors(name), tags(label)').eq('in_print', true).gt('pages', 200).order('pages', { ascending: false }), 'select with embeds')
    assert.deepEqual(books, [
      { title: 'Guards! Guards!', pages: 416, author: { name: 'Terry Pratchett' }, tags: [{ label: 'fantasy' }] },
      { title: 'The Left Hand of Darkness', pages: 304, author: { name: 'Ursula K. Le Guin' }, tags: [{ label: 'scifi' }, { label: 'classic' }] },
      { title: 'Mort', pages: 272, author: { name: 'Terry Pratchett' }, tags: [{ label: 'fantasy' }] },
    ])
    const inner = ok(await sb.from('authors').select('name, books!inner(title)').or('title.eq.Mort,title.like.*Earthsea', { referencedTable: 'books' }).order('id'), 'inner embed with or')
    assert.deepEqual(inner.map((a) => a.name), ['Ursula K. Le Guin', 'Terry Pratchett'])
    const filtered = ok(await sb.from('books').select('id').in('title', ['Mort', 'Guards! Guards!']).order('id'), 'in filter')
    assert.deepEqual(filtered, [{ id: 4 }, { id: 5 }])
    const nobody = ok(await sb.from('authors').select('name').is('born', null), 'is null')
    assert.deepEqual(nobody, [{ name: 'Nobody' }])
    const counted = await sb.from('books').select('id', { count: 'exact', head: true })
    assert.equal(counted.count, 5)

    const title = `js-${randomUUID().slice(0, 8)}`
    const inserted = ok(await sb.from('todos').insert({ title, priority: 2 }).select(), 'insert with select')
    assert.equal(inserted.length, 1)
    assert.equal(inserted[0].done, false)
    const id = inserted[0].id
    const single = ok(await sb.from('todos').select('title, priority').eq('id', id).single(), 'single')
    assert.deepEqual(single, { title, priority: 2 })
    const updated = ok(await sb.from('todos').update({ done: true }).eq('id', id).select('done').single(), 'update')
    assert.equal(updated.done, true)
    ok(await sb.from('todos').delete().eq('id', id), 'delete')
    const none = await sb.from('todos').select('id').eq('id', id).maybeSingle()
    assert.equal(none.data, null)
    const notOne = await sb.from('todos').select('id').eq('id', id).single()
    assert.equal(notOne.error?.code, 'PGRST116')
    const missing = await sb.from('no_such_table').select()
    assert.equal(missing.error?.code, 'PGRST205')
  },

  // Realtime over vsn 2.0.0: binary broadcast pushes, self/ack, presence, REST broadcast (httpSend).
  async realtime() {
    const [a, b, server] = [client(), client(), client(serviceKey)]
    const heard = []
    const loud = a.channel('room', { config: { broadcast: { self: true, ack: true } } })
    loud.on('broadcast', { event: 'cursor' }, (m) => heard.push(['a', m.payload]))
    const quiet = b.channel('room', { config: { presence: { key: 'bob' } } })
    quiet.on('broadcast', { event: 'cursor' }, (m) => heard.push(['b', m.payload]))
    const synced = []
    quiet.on('presence', { event: 'sync' }, () => synced.push(quiet.presenceState()))
    await subscribed(loud)
    await subscribed(quiet)
    assert.equal(await loud.send({ type: 'broadcast', event: 'cursor', payload: { x: 1 } }), 'ok')
    await until(() => heard.length === 2, 'both hear a broadcast sent with self')
    assert.deepEqual(heard.map(([who]) => who).sort(), ['a', 'b'])
    assert.equal(await quiet.track({ online: true }), 'ok')
    await until(() => synced.some((state) => state.bob?.[0]?.online === true), 'presence sync shows bob')
    const sent = await server.channel('room').httpSend('cursor', { x: 2 })
    assert.equal(sent.success, true)
    await until(() => heard.length === 4, 'a server broadcast reaches both')
    assert.deepEqual(heard.slice(2).map(([, payload]) => payload), [{ x: 2 }, { x: 2 }])
    const refused = client().channel('secret', { config: { private: true } })
    const status = await new Promise((resolve) => refused.subscribe((s) => s !== 'SUBSCRIBED' && resolve(s)))
    assert.equal(status, 'CHANNEL_ERROR')
    for (const sb of [a, b, server]) await sb.removeAllChannels()
  },

  // postgres_changes over vsn 2.0.0 (needs tests/realtime/changes_schema.sql): events, a filter, `*`,
  // removeChannel, and two users signed in for real under row-level security on `notes`.
  async changes() {
    const [sb, service] = [client(), client(serviceKey)]
    const seen = []
    const updates = []
    const todos = sb.channel('todos-js')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'todos' }, (p) => seen.push(p))
      .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'todos', filter: 'n=gte.10' }, (p) => updates.push(p))
    await subscribed(todos)
    const [row] = ok(await service.from('todos').insert({ title: 'js', n: 1, tags: ['a'] }).select(), 'insert')
    ok(await service.from('todos').update({ n: 10 }).eq('id', row.id), 'update')
    ok(await service.from('todos').delete().eq('id', row.id), 'delete')
    await until(() => seen.length === 3, 'insert, update and delete reach the channel')
    assert.deepEqual(seen.map((p) => p.eventType), ['INSERT', 'UPDATE', 'DELETE'])
    assert.deepEqual(seen[0].new, row)
    assert.equal(seen[1].new.n, 10)
    assert.deepEqual(seen[1].old, { id: row.id })
    assert.deepEqual(seen[2].old, { id: row.id })
    assert.equal(seen[0].errors, null)
    assert.ok(!Number.isNaN(Date.parse(seen[0].commit_timestamp)))
    assert.equal(updates.length, 1)
    await sb.removeChannel(todos)
    ok(await service.from('todos').insert({ title: 'after removeChannel' }), 'insert after')
    await new Promise((r) => setTimeout(r, 400))
    assert.equal(seen.length, 3)

    const heard = { alice: [], bob: [] }
    const users = {}
    for (const who of ['alice', 'bob']) {
      const user = client()
      const signedUp = ok(await user.auth.signUp({ email: email(who), password: PASSWORD }), `signUp ${who}`)
      users[who] = { client: user, id: signedUp.user.id }
      const channel = user.channel('notes-js')
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'notes' }, (p) => heard[who].push(p.new.body))
      await subscribed(channel)
    }
    ok(await service.from('notes').insert({ body: 'for alice', owner: users.alice.id }), 'private note')
    ok(await service.from('notes').insert({ body: 'for everyone', public: true }), 'public note')
    await until(() => heard.alice.length === 2 && heard.bob.length === 1, 'each user hears what RLS lets them read')
    await new Promise((r) => setTimeout(r, 300))
    assert.deepEqual(heard, { alice: ['for alice', 'for everyone'], bob: ['for everyone'] })
    for (const { client: user } of Object.values(users)) await user.removeAllChannels()
    await service.removeAllChannels()
  },
}

function subscribed(channel) {
  return new Promise((resolve, reject) => channel.subscribe((status, error) => {
    if (status === 'SUBSCRIBED') resolve()
    else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') reject(new Error(`${status} ${error}`))
  }))
}

async function until(check, what, ms = 5000) {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const name = process.argv[2]
if (!flows[name]) {
  console.error(`unknown flow ${name}; one of ${Object.keys(flows).join(', ')}`)
  process.exit(2)
}
try {
  await flows[name]()
  console.log(`ok ${name}`)
  process.exit(0)
} catch (error) {
  console.error(`flow ${name} failed: ${error.stack || error}`)
  process.exit(1)
}
