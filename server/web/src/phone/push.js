// Web Push on the phone pages: the subscription of this install, made with the server's
// VAPID key. Made again on every start (Chrome never fires `pushsubscriptionchange`, so
// a renewed subscription is only learnt this way).

function bytes(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** This install's push subscription as `{endpoint, keys: {p256dh, auth}}`. */
export async function subscribePush(publicKey) {
  const registration = await navigator.serviceWorker.ready;
  const key = bytes(publicKey);
  let subscription = await registration.pushManager.getSubscription();
  const same = (a, b) => a && a.byteLength === b.byteLength && new Uint8Array(a).every((v, i) => v === b[i]);
  if (subscription && !same(subscription.options?.applicationServerKey, key)) {
    // Made with another server key (the server's was replaced): it cannot be used.
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  const json = subscription.toJSON();
  return { endpoint: json.endpoint, keys: json.keys };
}
