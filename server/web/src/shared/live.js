// The sync socket as a page follows it (docs/contract.md, "The sync socket"): hello
// with the cursor, a snapshot when the server says so, then the change log live; each
// frame acknowledged, heartbeats kept, and a reconnect that resumes from the cursor.
import { refresh, session } from "./api.js";

const PROTOCOL = 1;

export class Live {
  /**
   * @param {object} handlers `reset()`, `items(items, {snapshot})`, `status(state)`;
   *   `state` is `connecting`, `live`, `offline` or `replaced`.
   */
  constructor(deviceId, handlers) {
    this.deviceId = deviceId;
    this.handlers = handlers;
    this.cursor = 0;
    this.socket = null;
    this.stopped = false;
    this.backoff = 500;
    this.heartbeat = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.heartbeat);
    this.socket?.close(1000, "page closed");
  }

  connect() {
    const token = session()?.token;
    if (!token || this.stopped) return;
    this.handlers.status("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/sync?token=${encodeURIComponent(token)}`);
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "hello", protocol: PROTOCOL, device_id: this.deviceId, cursor: this.cursor }));
    };
    socket.onmessage = (event) => this.receive(socket, JSON.parse(event.data));
    socket.onclose = (event) => this.closed(socket, event.code);
  }

  receive(socket, message) {
    switch (message.type) {
      case "welcome":
        this.backoff = 500;
        this.handlers.status("live");
        clearInterval(this.heartbeat);
        this.heartbeat = setInterval(
          () => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify({ type: "ping" })),
          Math.max(5, (message.heartbeat_s || 30) / 2) * 1000,
        );
        break;
      case "reset":
        this.handlers.reset();
        break;
      case "snapshot":
        this.handlers.items(message.items || [], { snapshot: true });
        break;
      case "snapshot_end":
        this.cursor = message.cursor;
        socket.send(JSON.stringify({ type: "ack", cursor: this.cursor }));
        break;
      case "changes":
        this.handlers.items(message.items || [], { snapshot: false });
        this.cursor = message.cursor;
        socket.send(JSON.stringify({ type: "ack", cursor: this.cursor }));
        break;
      default:
        break;
    }
  }

  async closed(socket, code) {
    if (socket !== this.socket) return;
    clearInterval(this.heartbeat);
    if (this.stopped) return;
    if (code === 4001) {
      // Another tab of this browser took the device over: leave it to that one.
      this.handlers.status("replaced");
      return;
    }
    this.handlers.status("offline");
    if (code === 4004 && !(await refresh())) return;
    if (code === 4007) this.cursor = 0;
    setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 15000);
  }
}
