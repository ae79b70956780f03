// An in-memory ChatKit Store for chatkit-node-backend-sdk that scopes every
// thread, item and attachment by `context.user_id`, the `sub` the gate
// asserted. One user asking for another's id gets NotFound, exactly as for an
// id that does not exist. Dev-only: used by the stand-in ChatKit server.
import { randomBytes } from "node:crypto";
import { AttachmentStore, Store, StoreNotFoundError } from "chatkit-node-backend-sdk";

/**
 * What the stand-in server passes to the SDK for each request.
 * @typedef {{ user_id: string, sid: string, workflow?: { id: string, version?: string },
 *   state_variables?: Record<string, unknown>, signal: AbortSignal }} RequestContext
 */

/** One page of `list`, after the item whose id is `after`, in the given order. */
function page(list, after, limit, order) {
  const ordered = order === "desc" ? [...list].reverse() : list;
  const start = after === null ? 0 : ordered.findIndex((entry) => entry.id === after) + 1;
  // An unknown cursor (or another user's id) gives an empty page, never the first one again.
  if (after !== null && start === 0) return { data: [], has_more: false, after: null };
  const data = ordered.slice(start, start + limit);
  const hasMore = start + limit < ordered.length;
  return { data, has_more: hasMore, after: data.at(-1)?.id ?? null };
}

function userOf(context) {
  // The server builds the context only from a verified assertion; anything else is a bug worth a loud failure.
  if (typeof context?.user_id !== "string" || context.user_id === "") throw new Error("context.user_id is required");
  return context.user_id;
}

/**
 * Threads live in creation order (a list, so `desc` is its reverse and
 * equal timestamps keep their order); items per thread likewise.
 */
export class MemoryStore extends Store {
  /** @type {Map<string, { threads: object[], items: Map<string, object[]>, attachments: Map<string, object>, files: Map<string, Buffer> }>} */
  #users = new Map();

  #space(context) {
    const user = userOf(context);
    let space = this.#users.get(user);
    if (!space) {
      space = { threads: [], items: new Map(), attachments: new Map(), files: new Map() };
      this.#users.set(user, space);
    }
    return space;
  }

  #items(threadId, context) {
    const items = this.#space(context).items.get(threadId);
    if (!items) throw new StoreNotFoundError(`Thread ${threadId} not found`);
    return items;
  }

  async loadThread(threadId, context) {
    const thread = this.#space(context).threads.find((entry) => entry.id === threadId);
    if (!thread) throw new StoreNotFoundError(`Thread ${threadId} not found`);
    return structuredClone(thread);
  }

  async saveThread(thread, context) {
    const space = this.#space(context);
    const index = space.threads.findIndex((entry) => entry.id === thread.id);
    // The SDK's toThreadResponse attaches an items page to what it returns; the store keeps metadata only.
    const { items: _items, ...metadata } = structuredClone(thread);
    if (index === -1) {
      space.threads.push(metadata);
      space.items.set(thread.id, []);
    } else space.threads[index] = metadata;
  }

  async deleteThread(threadId, context) {
    const space = this.#space(context);
    const index = space.threads.findIndex((entry) => entry.id === threadId);
    if (index === -1) throw new StoreNotFoundError(`Thread ${threadId} not found`);
    space.threads.splice(index, 1);
    space.items.delete(threadId);
  }

  async loadThreads(limit, after, order, context) {
    return structuredClone(page(this.#space(context).threads, after, limit, order));
  }

  async loadThreadItems(threadId, after, limit, order, context) {
    return structuredClone(page(this.#items(threadId, context), after, limit, order));
  }

  async addThreadItem(threadId, item, context) {
    this.#items(threadId, context).push(structuredClone(item));
  }

  async saveItem(threadId, item, context) {
    const items = this.#items(threadId, context);
    const index = items.findIndex((entry) => entry.id === item.id);
    if (index === -1) items.push(structuredClone(item));
    else items[index] = structuredClone(item);
  }

  async loadItem(threadId, itemId, context) {
    const item = this.#items(threadId, context).find((entry) => entry.id === itemId);
    if (!item) throw new StoreNotFoundError(`Item ${itemId} not found`);
    return structuredClone(item);
  }

  async deleteThreadItem(threadId, itemId, context) {
    const items = this.#items(threadId, context);
    const index = items.findIndex((entry) => entry.id === itemId);
    if (index !== -1) items.splice(index, 1);
  }

  async saveAttachment(attachment, context) {
    this.#space(context).attachments.set(attachment.id, structuredClone(attachment));
  }

  async loadAttachment(attachmentId, context) {
    const attachment = this.#space(context).attachments.get(attachmentId);
    if (!attachment) throw new StoreNotFoundError(`Attachment ${attachmentId} not found`);
    return structuredClone(attachment);
  }

  async deleteAttachment(attachmentId, context) {
    const space = this.#space(context);
    if (!space.attachments.delete(attachmentId)) throw new StoreNotFoundError(`Attachment ${attachmentId} not found`);
    space.files.delete(attachmentId);
  }

  /** Not part of the SDK's Store: the bytes of an uploaded file, kept beside its metadata. */
  async saveAttachmentContent(attachmentId, bytes, context) {
    this.#space(context).files.set(attachmentId, Buffer.from(bytes));
  }

  /**
   * What one user's space holds, for tests: thread ids (creation order),
   * items per thread (type and id), attachment ids with their stored size.
   */
  snapshot(userId) {
    const space = this.#users.get(userId);
    if (!space) return { threads: [], items: {}, attachments: {} };
    return {
      threads: space.threads.map((thread) => thread.id),
      items: Object.fromEntries(
        [...space.items].map(([id, items]) => [id, items.map((item) => ({ id: item.id, type: item.type }))]),
      ),
      attachments: Object.fromEntries(
        [...space.attachments.keys()].map((id) => [id, space.files.get(id)?.length ?? null]),
      ),
    };
  }

  /** Every user id that has a space. */
  users() {
    return [...this.#users.keys()];
  }
}

/** A capability in an upload URL: unguessable, single use. */
const UPLOAD_TOKEN_BYTES = 32;

/**
 * Two-phase uploads (`attachments.create`): the attachment comes back with an
 * `upload_url` (the SDK's older name for `upload_descriptor.url`) that
 * carries a single-use token, like a presigned storage URL. The browser
 * uploads there directly, not through the gate, which is why the URL itself
 * must be the credential.
 */
export class MemoryAttachmentStore extends AttachmentStore {
  /** @type {Map<string, { attachmentId: string, userId: string }>} */
  pendingUploads = new Map();

  /** @param {() => string} uploadBase the origin and path prefix upload URLs start with */
  constructor(uploadBase) {
    super();
    this.uploadBase = uploadBase;
  }

  async createAttachment(params, context) {
    const id = this.generateAttachmentId(params.mime_type, context);
    const token = randomBytes(UPLOAD_TOKEN_BYTES).toString("base64url");
    this.pendingUploads.set(token, { attachmentId: id, userId: userOf(context) });
    const base = { id, name: params.name, mime_type: params.mime_type, upload_url: `${this.uploadBase()}/${token}` };
    // The preview becomes a data URL once the bytes arrive; until then there is nothing to show.
    return params.mime_type.startsWith("image/")
      ? { ...base, type: "image", preview_url: "" }
      : { ...base, type: "file" };
  }

  async deleteAttachment(attachmentId, context) {
    const user = userOf(context);
    // Only the owner's pending upload goes; another user's delete then fails in the Store with NotFound.
    for (const [token, pending] of this.pendingUploads) {
      if (pending.attachmentId === attachmentId && pending.userId === user) this.pendingUploads.delete(token);
    }
  }

  /** Takes (and forgets) the pending upload a token names; undefined when unknown or used. */
  claimUpload(token) {
    const pending = this.pendingUploads.get(token);
    this.pendingUploads.delete(token);
    return pending;
  }
}
