import { GateError } from "../http/errors";
import type { SessionRecord } from "../sessions/record";
import { MIN_KV_TTL_SECONDS, storageUnavailable } from "../sessions/store";

/** Where a user's block lives: one key per owner key, read once per create (admin API on or off). */
const BLOCK_PREFIX = "block:";

/** An operator's block on a user, as stored (no operator id and no raw user: the audit log has who). */
export interface Block {
  /** Unix seconds. */
  blocked_at: number;
  /** Unix seconds; absent: until unblocked. */
  until?: number;
  /** The operator's note; shown to operators, never to the user. */
  reason: string;
}

/**
 * What a block adds to the records it cancels, so `/chatkit` learns from
 * the one record it reads anyway that the user is blocked (403), not merely
 * that the session ended (401). Kept beside the record's own fields, which
 * the API never shows.
 */
export interface BlockMark {
  blocked?: true;
  /** The block's `until`, so the mark lapses with it. */
  blocked_until?: number;
}

export const blockedError = () => new GateError("forbidden", "This user is blocked by the operator");

export const blockKey = (ownerKey: string) => `${BLOCK_PREFIX}${ownerKey}`;

/** A block still in force at `now`: `until` is checked here too, as KV may keep a key past its TTL for a while. */
export function inForce(block: Block | null, now: number): block is Block {
  return block !== null && (block.until === undefined || now < block.until);
}

/**
 * What a `block:` value that is not a block (not JSON, or not this shape)
 * reads as: a block without `until`, so a damaged record fails closed
 * (403) instead of lifting the block. Operators see this reason in the
 * list route and clear it with DELETE.
 */
export const UNREADABLE_BLOCK: Readonly<Block> = Object.freeze({
  blocked_at: 0,
  reason: "The stored block could not be read; DELETE the block to clear it",
});

/** One KV read: the user's block, or null when there is none; a value that is not a block is {@link UNREADABLE_BLOCK}. */
export async function readBlock(kv: KVNamespace, ownerKey: string): Promise<Block | null> {
  let text: string | null;
  try {
    text = await kv.get(blockKey(ownerKey), "text");
  } catch {
    throw storageUnavailable();
  }
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return UNREADABLE_BLOCK;
  }
  return isBlock(value) ? value : UNREADABLE_BLOCK;
}

/** One KV write; the key expires with `until` (KV's 60 s minimum aside, which {@link inForce} covers). */
export async function writeBlock(kv: KVNamespace, ownerKey: string, block: Block, now: number): Promise<void> {
  const options: KVNamespacePutOptions = {};
  if (block.until !== undefined) options.expirationTtl = Math.max(MIN_KV_TTL_SECONDS, block.until - now);
  await kv.put(blockKey(ownerKey), JSON.stringify(block), options);
}

/** The record with the block's mark. */
export function markBlocked(block: Block): (record: SessionRecord) => SessionRecord {
  return (record) => {
    const marked: SessionRecord & BlockMark = { ...record, blocked: true };
    if (block.until !== undefined) marked.blocked_until = block.until;
    return marked;
  };
}

/** The record without a block's mark, or undefined when it has none. */
export function unmarked(record: SessionRecord): SessionRecord | undefined {
  const { blocked, blocked_until, ...rest } = record as SessionRecord & BlockMark;
  return blocked === undefined && blocked_until === undefined ? undefined : rest;
}

/**
 * True when the record was cancelled by a block still in force and the
 * session would otherwise still be running: its secret answers 403, not 401.
 * After the block lapses or the session's time is up, it is an ordinary ended session.
 */
export function blockedNow(record: SessionRecord, now: number): boolean {
  const { blocked, blocked_until } = record as SessionRecord & BlockMark;
  return blocked === true && now < record.expires_at && (blocked_until === undefined || now < blocked_until);
}

function isBlock(value: unknown): value is Block {
  if (typeof value !== "object" || value === null) return false;
  const b = value as Record<string, unknown>;
  return (
    Number.isSafeInteger(b.blocked_at) &&
    (b.until === undefined || Number.isSafeInteger(b.until)) &&
    typeof b.reason === "string"
  );
}
