import type { SessionRecord } from "../sessions/record";
import { type Page, SessionStore } from "../sessions/store";

/**
 * A session store that remembers which sessions it recorded as `cancelled`
 * (confirmed ended, upstream or at once), so their quota slots can be freed
 * in one call after a cancel, `cancel_all` or block. A `cancel_pending`
 * session is not among them: it may still be usable until its `expires_at`,
 * so its slot counts until then.
 *
 * With `mark`, every record it lists is passed through it first, so whatever
 * a `cancel_all` writes back carries the mark (an operator's block).
 */
export class EndingStore extends SessionStore {
  readonly ended: string[] = [];
  mark: ((record: SessionRecord) => SessionRecord) | undefined;

  override async put(ownerKey: string, record: SessionRecord): Promise<void> {
    await super.put(ownerKey, record);
    if (record.status === "cancelled") this.ended.push(record.session_id);
  }

  override async listPage(ownerKey: string, cursor?: string): Promise<Page<SessionRecord>> {
    const page = await super.listPage(ownerKey, cursor);
    const mark = this.mark;
    return mark === undefined ? page : { ...page, items: page.items.map(mark) };
  }
}
