/**
 * For the embedded default's services only (dynalite, the local @connections endpoint), which do
 * not check signatures: the SigV4 scheme with a signer that leaves the request as it is. Signing
 * hashes every body, a large share of a call's CPU on the log-line path.
 */
export const UNSIGNED_SIGV4 = {
  schemeId: 'aws.auth#sigv4',
  identityProvider: () => async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
  // dynalite wants an Authorization header of the right form (it checks no signature).
  signer: {
    sign: async <R extends { headers: Record<string, string> }>(request: R) => {
      request.headers['x-amz-date'] ??= '20000101T000000Z';
      request.headers.authorization = 'AWS4-HMAC-SHA256 Credential=local/20000101/local/local/aws4_request, SignedHeaders=host, Signature=local';
      return request;
    },
  },
};

/** Client options for a local endpoint: fixed region and credentials, no signing. */
export const localClientOptions = { region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, httpAuthSchemes: [UNSIGNED_SIGV4] } as const;
