// Starts the real server for the browser tests: `$WUWEI_BIN demo` on a free port with a fresh
// data directory, waits for /readyz, and stops it (and removes the data) when the run ends.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const webDir = resolve(here, '..')
export const ARTIFACTS = join(here, 'artifacts')
const READY_TIMEOUT_MS = 120_000
const STOP_TIMEOUT_MS = 10_000

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.once('error', rej)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => res(port))
    })
  })
}

function tail(path: string, lines = 40): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

async function waitReady(url: string, child: ChildProcess, logPath: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  let last = ''
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`wuwei exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail(logPath)}`)
    }
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) })
      if (res.status === 200) return
      last = `status ${res.status}`
    } catch (e) {
      last = e instanceof Error ? e.message : String(e)
    }
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`wuwei was not ready within ${READY_TIMEOUT_MS / 1000} s (${last}):\n${tail(logPath)}`)
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res()
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    child.once('exit', () => {
      clearTimeout(timer)
      res()
    })
    child.kill('SIGTERM')
  })
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const bin = resolve(webDir, process.env.WUWEI_BIN ?? '../target/debug/wuwei')
  if (!existsSync(bin)) {
    throw new Error(`server binary not found: ${bin} (build it with \`cargo build --bin wuwei\`, or set WUWEI_BIN)`)
  }
  mkdirSync(ARTIFACTS, { recursive: true })
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'wuwei-e2e-'))
  const logPath = join(ARTIFACTS, 'server.log')
  const log = createWriteStream(logPath)
  const child = spawn(bin, ['demo', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // WUWEI_TEST_CLOCK: POST /api/v1/test/clock moves the server's clock (the points notice period).
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info', WUWEI_TEST_CLOCK: 'true' },
  })
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  const url = `http://127.0.0.1:${port}`
  try {
    await waitReady(url, child, logPath)
  } catch (e) {
    await stop(child)
    rmSync(dataDir, { recursive: true, force: true })
    throw e
  }
  // Workers start after this and inherit the environment.
  process.env.WUWEI_BASE_URL = url
  return async () => {
    await stop(child)
    log.end()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
