// Connect clients over gRPC-Web to the server that served the page: the very services every other
// client calls, with the signed-in key in the `authorization` header.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { Budgets } from "./gen/tally/v1/budgets_pb";
import { Directory } from "./gen/tally/v1/directory_pb";
import { Ingest } from "./gen/tally/v1/ingest_pb";
import { Pricing } from "./gen/tally/v1/pricing_pb";
import { Reports } from "./gen/tally/v1/reports_pb";
import { Runs } from "./gen/tally/v1/runs_pb";
import { storedKey } from "./session";

const withKey: Interceptor = (next) => async (request) => {
  const key = storedKey();
  if (key) request.header.set("authorization", `Bearer ${key}`);
  return next(request);
};

const transport = createGrpcWebTransport({
  baseUrl: window.location.origin,
  interceptors: [withKey],
});

function client<T extends DescService>(service: T): Client<T> {
  return createClient(service, transport);
}

export const api = {
  budgets: client(Budgets),
  directory: client(Directory),
  ingest: client(Ingest),
  pricing: client(Pricing),
  reports: client(Reports),
  runs: client(Runs),
};

/** A failed call in words for the page: what failed, the gRPC code, and the server's message. */
export function describeError(what: string, error: unknown): string {
  if (error instanceof ConnectError) {
    const code = Code[error.code] ?? String(error.code);
    return `${what} failed: ${codeName(code)}: ${error.rawMessage}`;
  }
  return `${what} failed: ${error instanceof Error ? error.message : String(error)}`;
}

/** True when the call was refused for want of rights (a publishable key acting). */
export function isPermissionDenied(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.PermissionDenied;
}

/** True when the key is unknown or revoked. */
export function isUnauthenticated(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unauthenticated;
}

// Connect names codes in camel case ("PermissionDenied"); gRPC users know PERMISSION_DENIED.
function codeName(code: string): string {
  return code.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}
