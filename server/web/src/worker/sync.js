// The worker app's side of the sync socket (docs/contract.md, "The sync socket"), with
// the guarantees of the reference client in sync-protocol:
// - one tab of the browser, elected by a Web Lock, owns the socket; the others read
//   what it stores and hand it their actions through the outbox;
// - each frame's items and its cursor are stored in one IndexedDB transaction before
//   the ack, so a reload resumes exactly after what was stored;
// - an action stays in the outbox until the server's result for it is stored; it is
//   sent again, with the same id, after every reconnect (the server applies it once);
// - the outbox is flushed on every welcome, on `online`, and when another tab asks.
import { renew, upload } from "./net.js";
import { cursor, enqueue, loadSession, load, photo, settle, storeFrame, sweepPhotos, uploaded } from "./state.js";

const PROTOCOL = 1;
const LOCK = "gridlink-m-socket";
/** What tabs of the app tell each other: `stored` (read again), `flush` (send the outbox). */
export const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("gridlink-m") : null;

/** Ops that carry photos to upload first, and the fields that hold them. */
const PHOTO_FIELDS = ["photos"];

/** The op with each kept photo's local key replaced by the server's id, uploading as needed. */
async function resolvePhotos(op) {
  const copy = structuredClone(op);
  const holders = [copy, copy.handled].filter(Boolean);
  for (const holder of holders) {
    for (const field of PHOTO_FIELDS) {
      if (!Array.isArray(holder[field])) continue;
      const ids = [];
      for (const key of holder[field]) {
        if (!key.startsWith("local:")) {
          ids.push(key);
          continue;
        }
        const kept = await photo(key);
        if (!kept) continue;
        let id = kept.id;
        if (!id) {
          id = await upload(kept.blob);
          await uploaded(key, id);
        }
        ids.push(id);
      }
      holder[field] = ids;
    }
  }
  return copy;
}

export class Sync {
  /**
   * @param {object} on `changed()` when stored state changed, `status(state)` with
   *   `connecting`, `live`, `offline`, `replaced`, `follower` or `logged-out`.
   */
  constructor(on) {
    this.on = on;
    this.socket = null;
    this.backoff = 1000;
    this.stopped = false;
    this.snapshot = null;
    this.sending = false;
    this.sent = new Set();
    this.failedOpens = 0;
    this.heartbeat = null;
    this.release = null;
    this.online = () => this.connectSoon(0);
    channel?.addEventListener("message", (event) => {
      if (event.data?.type === "stored") this.on.changed();
      if (event.data?.type === "flush" && this.owner) this.flush();
    });
  }

  /** Waits to own the socket (one tab at a time), then keeps it connected until stopped. */
  start() {
    this.stopped = false;
    window.addEventListener("online", this.online);
    if (!navigator.locks) {
      this.takeOver();
      return;
    }
    this.on.status("follower");
    navigator.locks.request(LOCK, () => {
      if (this.stopped) return undefined;
      this.takeOver();
      return new Promise((resolve) => (this.release = resolve));
    });
  }

  takeOver() {
    this.owner = true;
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.owner = false;
    window.removeEventListener("online", this.online);
    clearInterval(this.heartbeat);
    clearTimeout(this.retry);
    this.socket?.close(1000, "logged out");
    this.release?.();
  }

  connectSoon(delay) {
    if (!this.owner || this.stopped) return;
    clearTimeout(this.retry);
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) {
      this.flush();
      return;
    }
    this.retry = setTimeout(() => this.connect(), delay);
  }

  async connect() {
    const session = await loadSession();
    if (!session?.token || this.stopped) {
      this.on.status("logged-out");
      return;
    }
    this.on.status("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/sync?token=${encodeURIComponent(session.token)}`);
    this.socket = socket;
    this.sent = new Set();
    let opened = false;
    socket.onopen = async () => {
      opened = true;
      this.failedOpens = 0;
      const from = await cursor();
      socket.send(JSON.stringify({ type: "hello", protocol: PROTOCOL, device_id: session.device_id, cursor: from }));
    };
    socket.onmessage = (event) => {
      // Frames are handled one after another: each is stored before the next is read.
      this.queue = (this.queue ?? Promise.resolve())
        .then(() => this.receive(socket, JSON.parse(event.data)))
        .catch(() => {
          // Not stored (storage full, a malformed frame): nothing was acknowledged, so
          // a new connection resumes from the stored cursor.
          socket.close(4000, "not stored");
        });
    };
    socket.onclose = (event) => this.closed(socket, event.code, opened);
  }

  async receive(socket, message) {
    switch (message.type) {
      case "welcome":
        this.backoff = 1000;
        this.on.status("live");
        clearInterval(this.heartbeat);
        this.heartbeat = setInterval(
          () => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify({ type: "ping" })),
          Math.max(5, (message.heartbeat_s || 30) / 2) * 1000,
        );
        this.flush();
        break;
      case "reset":
        this.snapshot = [];
        break;
      case "snapshot":
        this.snapshot?.push(...(message.items || []));
        break;
      case "snapshot_end":
        await storeFrame(this.snapshot ?? [], message.cursor, { reset: true });
        this.snapshot = null;
        this.stored(socket, message.cursor);
        break;
      case "changes":
        await storeFrame(message.items || [], message.cursor);
        this.stored(socket, message.cursor);
        break;
      case "mutation_result":
        if (message.retry) {
          // Not kept by the server (a photo not there yet, a failure): send it again later.
          this.sent.delete(message.id);
          clearTimeout(this.resend);
          this.resend = setTimeout(() => this.flush(), 5000);
          break;
        }
        await settle(message);
        await sweepPhotos();
        this.changed();
        break;
      default:
        break;
    }
  }

  stored(socket, at) {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ack", cursor: at }));
    this.changed();
  }

  changed() {
    this.on.changed();
    channel?.postMessage({ type: "stored" });
  }

  /**
   * Sends an op now, outside the outbox (a position: an old one is worth nothing later);
   * false when there is no connection.
   */
  sendNow(op) {
    if (!this.owner || this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify({ type: "mutate", id: crypto.randomUUID(), op }));
    return true;
  }

  /** Sends every queued action not yet sent on this connection, in the order taken. */
  async flush() {
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = true;
    try {
      do {
        this.again = false;
        const socket = this.socket;
        if (!socket || socket.readyState !== WebSocket.OPEN) return;
        const { outbox } = await load();
        for (const entry of outbox) {
          if (this.sent.has(entry.id)) continue;
          let op;
          try {
            op = await resolvePhotos(entry.op);
          } catch {
            // A photo could not go up yet: later actions wait, so that order holds.
            this.connectSoon(10000);
            return;
          }
          if (socket.readyState !== WebSocket.OPEN) return;
          socket.send(JSON.stringify({ type: "mutate", id: entry.id, op }));
          this.sent.add(entry.id);
        }
      } while (this.again);
    } finally {
      this.sending = false;
    }
  }

  async closed(socket, code, opened) {
    if (socket !== this.socket) return;
    clearInterval(this.heartbeat);
    if (this.stopped) return;
    if (code === 4001) {
      this.on.status("replaced");
      return;
    }
    this.on.status("offline");
    // A refused upgrade (an ended token) closes before opening: renew once it happens twice.
    if (!opened) this.failedOpens += 1;
    if (code === 4004 || this.failedOpens === 2) {
      try {
        if (!(await renew())) {
          this.on.status("logged-out");
          return;
        }
      } catch {
        // offline: try again later
      }
    }
    this.connectSoon(this.backoff);
    this.backoff = Math.min(this.backoff * 2, 30000);
  }
}

/** Queues an action (from any tab) and asks the owner of the socket to send it. */
export async function act(sync, op, label, code) {
  const entry = await enqueue(op, label, code);
  sync.changed();
  if (sync.owner) sync.flush();
  else channel?.postMessage({ type: "flush" });
  return entry;
}
