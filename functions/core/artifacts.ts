/** Run artifacts (SPEC §7): every blob a run produced or used, with its SHA-256, re-checked on read. */
import type { Deps } from './deps.js';
import { ApiError, notFound } from './errors.js';
import { sha256 } from './ids.js';
import type { Artifact } from './model.js';

export type ArtifactKind = Artifact['kind'];

/** Stores `body` (unless it already sits at `blobKey`) and records it. One artifact per run and kind. */
export async function saveArtifact(
  deps: Pick<Deps, 'store' | 'blobs'>,
  taskId: number,
  kind: ArtifactKind,
  body: Buffer,
  existingBlobKey?: string,
): Promise<Artifact> {
  const blobKey = existingBlobKey ?? `tasks/${taskId}/${kind}`;
  if (!existingBlobKey) await deps.blobs.put(blobKey, body);
  const artifact: Artifact = {
    artifact_id: `art-${taskId}-${kind.replace(/_/g, '-')}`,
    task_id: taskId,
    kind,
    sha256: sha256(body),
    size_bytes: body.length,
    blob_key: blobKey,
    created_at: new Date().toISOString(),
  };
  await deps.store.putArtifact(artifact);
  return artifact;
}

/** The artifact's bytes, re-hashed: a mismatch is refused, never served. */
export async function readArtifact(deps: Pick<Deps, 'blobs'>, a: Artifact): Promise<Buffer> {
  const body = await deps.blobs.get(a.blob_key);
  if (!body) throw new ApiError(500, 'artifact_missing', `artifact ${a.artifact_id} has no stored content`);
  if (sha256(body) !== a.sha256) throw new ApiError(500, 'integrity_error', `artifact ${a.artifact_id} failed its SHA-256 check; it is not served`);
  return body;
}

export async function readArtifactOfKind(deps: Pick<Deps, 'store' | 'blobs'>, taskId: number, kind: ArtifactKind): Promise<Buffer> {
  const a = await deps.store.getArtifact(`art-${taskId}-${kind.replace(/_/g, '-')}`);
  if (!a) throw notFound(`${kind.replace(/_/g, ' ')} of task ${taskId}`);
  return readArtifact(deps, a);
}

export function artifactView(a: Artifact) {
  const { blob_key: _key, ...view } = a;
  return { ...view, download_url: `/api/v1/artifacts/${a.artifact_id}/download` };
}
