// The 12345 hotline's desk (统一接收): a call filed with the caller's number, the place
// picked on the map and what they said; a case read back to a caller who gives its
// number (工单号). The call back (回访) is a button on the case itself.
import { useState } from "preact/hooks";
import { api } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { leaves } from "../phone/categories.js";

export function HotlineDesk({ categories, map, onOpen }) {
  return (
    <div class="hotline">
      <FindCase onOpen={onOpen} />
      <FileCall categories={categories} map={map} onOpen={onOpen} />
    </div>
  );
}

/** A caller reads out their case number: the case opens, to be read back to them. */
function FindCase({ onOpen }) {
  const [missing, setMissing] = useState(null);
  async function find(event) {
    event.preventDefault();
    const code = String(new FormData(event.currentTarget).get("code") ?? "").trim();
    if (!code) return;
    setMissing(null);
    try {
      const page = await api(`/api/v1/incidents?code=${encodeURIComponent(code)}`);
      if (page.items.length) onOpen(page.items[0].id);
      else setMissing(t("noSuchCode", { code }));
    } catch (e) {
      setMissing(e.message);
    }
  }
  return (
    <form class="find-case" onSubmit={find}>
      <label>
        {t("caseNumber")}
        <input name="code" placeholder="2026-0000123" autocomplete="off" />
      </label>
      <button type="submit">{t("findCase")}</button>
      {missing && <p class="error">{missing}</p>}
    </form>
  );
}

/** A call filed on the caller's behalf: their number is the case's contact (personal data). */
function FileCall({ categories, map, onOpen }) {
  const [place, setPlace] = useState(null);
  const [picking, setPicking] = useState(false);
  const [filed, setFiled] = useState(null);
  const [error, setError] = useState(null);
  const [key, setKey] = useState(() => crypto.randomUUID());
  async function pick() {
    setPicking(true);
    try {
      setPlace(await map.current.pickGrid());
    } catch {
      // cancelled
    } finally {
      setPicking(false);
    }
  }
  async function submit(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    if (!place) return setError(t("pickPlaceFirst"));
    setError(null);
    try {
      const opened = await api("/api/v1/reports", {
        method: "POST",
        // The same key on a retry files the call once.
        headers: { "Idempotency-Key": key },
        body: {
          category: String(data.get("category")),
          location: { lon: place.at.lon, lat: place.at.lat, crs: "wgs84" },
          description: String(data.get("description")).trim(),
          contact: {
            name: String(data.get("name") ?? "").trim(),
            phone: String(data.get("phone")).trim(),
            id_number: String(data.get("id_number") ?? "").trim() || undefined,
          },
        },
      });
      setFiled(opened);
      setPlace(null);
      setKey(crypto.randomUUID());
      form.reset();
    } catch (e) {
      setError(e.message);
    }
  }
  const grouped = new Map();
  for (const leaf of leaves(categories)) {
    if (!grouped.has(leaf.domainName)) grouped.set(leaf.domainName, []);
    grouped.get(leaf.domainName).push(leaf);
  }
  return (
    <form class="file-call" onSubmit={submit}>
      <h3>{t("fileCall")}</h3>
      {filed && (
        <p class="filed" role="status">
          {t("callFiled")}{" "}
          <button type="button" class="code link" onClick={() => onOpen(filed.id)}>
            {filed.code}
          </button>
        </p>
      )}
      <label>
        {t("callerNumber")}
        <input name="phone" type="tel" required maxLength={20} autocomplete="off" />
      </label>
      <label>
        {t("callerName")}
        <input name="name" maxLength={50} autocomplete="off" />
      </label>
      <label>
        {t("callerIdNumber")}
        <input name="id_number" maxLength={18} autocomplete="off" />
      </label>
      <label>
        {t("category")}
        <select name="category" required>
          <option value="" />
          {[...grouped].map(([domain, list]) => (
            <optgroup key={domain} label={domain}>
              {list.map((c) => (
                <option key={c.code} value={c.code}>
                  {c.name}
                </option>
              ))}
            </optgroup>
          ))}
        </select>
      </label>
      <div class="place">
        <button type="button" onClick={pick} disabled={picking}>
          {picking ? t("picking") : t("pickPlace")}
        </button>
        {place && <span class="chosen">→ {place.chain.map((c) => c.name).slice(2).join(" · ")}</span>}
      </div>
      <label>
        {t("callerSaysWhat")}
        <textarea name="description" required maxLength={2000} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit">{t("fileIt")}</button>
    </form>
  );
}
