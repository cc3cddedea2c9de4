/**
 * A real S3 REST server in-process for the store's tests: `s3rver` (from npm; objects on disk,
 * the S3 XML API, ETags and conditional GETs, ListObjectsV2 with continuation tokens), behind a
 * front on 127.0.0.1 that checks every request's SigV4 signature, header or query form, as S3
 * does (s3rver itself checks only the access key id). The front is written here from AWS's
 * SigV4 specification, not with the client's signing library, so a client that signs wrongly
 * gets S3's `403 SignatureDoesNotMatch`.
 */
import { Buffer } from "node:buffer";
import crypto from "node:crypto";
import S3rver from "s3rver";

// s3rver makes its opaque ListObjectsV2 continuation tokens with single DES ("des", DES-CBC),
// which Deno's node:crypto does not offer. DES-CBC with key K is 3DES-EDE-CBC with key K|K|K
// (encrypt, decrypt, encrypt with one key), which it does: the same cipher, the same tokens.
type CipherFn = typeof crypto.createCipheriv;
function withSingleDes<F extends CipherFn>(make: F): F {
  return ((alg: string, key: Buffer, iv: Buffer, options?: unknown) =>
    alg === "des"
      ? (make as CipherFn)("des-ede3-cbc", Buffer.concat([key, key, key]), iv)
      : (make as (...a: unknown[]) => unknown)(alg, key, iv, options)) as F;
}
const nodeCrypto = crypto as unknown as Record<string, unknown>;
if (!crypto.getCiphers().includes("des")) {
  nodeCrypto.createCipheriv = withSingleDes(crypto.createCipheriv);
  nodeCrypto.createDecipheriv = withSingleDes(crypto.createDecipheriv as unknown as CipherFn);
}

/** The credentials the server accepts (s3rver's account id, any secret). */
export const S3_KEY = { accessKeyId: "S3RVER", secretAccessKey: "test-secret-0123456789" };

/** One request as the front saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  query: string;
  /** `header` (Authorization), `query` (presigned) or `none`. */
  auth: "header" | "query" | "none";
  /** The status the client got. */
  status: number;
}

/** The running server. */
export interface S3TestServer {
  /** `AWS_ENDPOINT_URL` for clients: the verifying front. */
  endpoint: string;
  /** Every request the front answered, in order. */
  seen: SeenRequest[];
  /** s3rver's own folder (objects on disk), for tampering tests. */
  directory: string;
}

/** Options for {@link withS3Server}. */
export interface S3ServerOptions {
  /** Buckets to create (default `["bundles"]`). */
  buckets?: string[];
  /** A session token every request must carry, signed (`x-amz-security-token`). */
  sessionToken?: string;
}

const enc = new TextEncoder();

function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

async function hmac(key: Uint8Array | ArrayBuffer, data: string): Promise<ArrayBuffer> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as ArrayBuffer,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return await crypto.subtle.sign("HMAC", k, enc.encode(data));
}

/** RFC 3986 percent-encoding, as SigV4 canonicalizes query names and values. */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `20240102T030405Z` as a time. */
function amzTime(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return NaN;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

function s3Error(status: number, code: string, message: string): Response {
  return new Response(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
    { status, headers: { "content-type": "application/xml" } },
  );
}

/**
 * Check a request's SigV4 signature (AWS's "Signature Version 4 signing process": canonical
 * request, string to sign, derived key). Returns the S3 error to answer, or null when it holds.
 */
async function verifySigV4(
  req: Request,
  body: Uint8Array,
  sessionToken: string | undefined,
): Promise<Response | null> {
  const url = new URL(req.url);
  const q = url.searchParams;
  const header = req.headers.get("authorization");
  const presigned = q.has("X-Amz-Algorithm");
  if (!header && !presigned) return s3Error(403, "AccessDenied", "Anonymous access is denied");
  let credential: string, signedHeaders: string, signature: string, amzDate: string;
  let payloadHash: string;
  if (presigned) {
    if (q.get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256") {
      return s3Error(400, "AuthorizationQueryParametersError", "Unsupported algorithm");
    }
    credential = q.get("X-Amz-Credential") ?? "";
    signedHeaders = q.get("X-Amz-SignedHeaders") ?? "";
    signature = q.get("X-Amz-Signature") ?? "";
    amzDate = q.get("X-Amz-Date") ?? "";
    const expires = Number(q.get("X-Amz-Expires") ?? "NaN");
    if (!(Date.now() <= amzTime(amzDate) + expires * 1000)) {
      return s3Error(403, "AccessDenied", "Request has expired");
    }
    payloadHash = "UNSIGNED-PAYLOAD";
  } else {
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^,]+),\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]+)$/
        .exec(header!);
    if (!m) return s3Error(400, "AuthorizationHeaderMalformed", "Malformed Authorization");
    [, credential, signedHeaders, signature] = m;
    amzDate = req.headers.get("x-amz-date") ?? "";
    if (!(Math.abs(Date.now() - amzTime(amzDate)) <= 15 * 60_000)) {
      return s3Error(403, "RequestTimeTooSkewed", "The request time is too far from the server's");
    }
    payloadHash = req.headers.get("x-amz-content-sha256") ?? "";
    if (!payloadHash) return s3Error(400, "InvalidRequest", "Missing x-amz-content-sha256");
    if (payloadHash !== "UNSIGNED-PAYLOAD" && payloadHash !== await sha256(body)) {
      return s3Error(400, "XAmzContentSHA256Mismatch", "The body does not match its hash");
    }
  }
  const [akid, date, region, service, term] = credential.split("/");
  if (akid !== S3_KEY.accessKeyId) {
    return s3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist");
  }
  if (service !== "s3" || term !== "aws4_request" || !amzDate.startsWith(date)) {
    return s3Error(400, "AuthorizationHeaderMalformed", "Bad credential scope");
  }
  const signed = signedHeaders.split(";");
  if (!signed.includes("host")) return s3Error(400, "InvalidRequest", "host must be signed");
  if (sessionToken !== undefined) {
    const token = presigned
      ? q.get("X-Amz-Security-Token")
      : req.headers.get("x-amz-security-token");
    if (token !== sessionToken || (!presigned && !signed.includes("x-amz-security-token"))) {
      return s3Error(403, "InvalidToken", "The provided token is malformed or otherwise invalid");
    }
  }
  const query = [...q.entries()]
    .filter(([k]) => !(presigned && k === "X-Amz-Signature"))
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const headers = signed
    .map((h) => `${h}:${(req.headers.get(h) ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const canonical = [req.method, url.pathname, query, headers, signedHeaders, payloadHash]
    .join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, await sha256(canonical)].join("\n");
  let key: ArrayBuffer = await hmac(enc.encode(`AWS4${S3_KEY.secretAccessKey}`), date);
  for (const part of [region, service, "aws4_request"]) key = await hmac(key, part);
  if (hex(await hmac(key, toSign)) !== signature) {
    return s3Error(
      403,
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided",
    );
  }
  return null;
}

/**
 * Run `fn` against a fresh S3 server on 127.0.0.1 (s3rver behind the SigV4-checking front),
 * and stop both afterwards.
 *
 * @param fn the test
 * @param options buckets and a required session token
 */
export async function withS3Server(
  fn: (s3: S3TestServer) => Promise<void>,
  options: S3ServerOptions = {},
): Promise<void> {
  const directory = await Deno.makeTempDir({ prefix: "s3rver-" });
  const backend = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: (options.buckets ?? ["bundles"]).map((name) => ({ name })),
  });
  const { port: backendPort } = await backend.run();
  const seen: SeenRequest[] = [];
  const front = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const body = new Uint8Array(await req.arrayBuffer());
    const auth = req.headers.has("authorization")
      ? "header"
      : url.searchParams.has("X-Amz-Algorithm")
      ? "query"
      : "none";
    let res = await verifySigV4(req, body, options.sessionToken);
    if (!res) {
      const headers = new Headers(req.headers);
      headers.delete("host");
      const upstream = await fetch(`http://127.0.0.1:${backendPort}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
        signal: AbortSignal.timeout(10_000),
      });
      res = new Response(
        upstream.status === 304 || req.method === "HEAD" ? null : upstream.body,
        { status: upstream.status, headers: upstream.headers },
      );
    }
    seen.push({
      method: req.method,
      path: url.pathname,
      query: url.search,
      auth,
      status: res.status,
    });
    return res;
  });
  try {
    await fn({ endpoint: `http://127.0.0.1:${front.addr.port}`, seen, directory });
  } finally {
    await front.shutdown();
    await backend.close();
    await Deno.remove(directory, { recursive: true }).catch(() => {});
  }
}
