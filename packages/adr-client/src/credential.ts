import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { AdrError, isAdrError } from "./errors.ts";

const DEFAULT_STATIC_LIFETIME_MS = 60 * 60 * 1000;

/**
 * A `TokenCredential` that always returns `token`, e.g. the bearer token in the simulator's `sim.json`.
 * Without `expiresOnTimestamp` (ms since the epoch) each answer claims one more hour of life, so the token is never
 * considered expired.
 */
export function staticTokenCredential(token: string, expiresOnTimestamp?: number): TokenCredential {
  if (typeof token !== "string" || !/^[!-~]+$/.test(token)) {
    throw new AdrError(
      "ADR_INVALID_OPTIONS",
      "staticTokenCredential needs a non-empty bearer token of printable ASCII without spaces; " +
        "pass the token string alone, without the 'Bearer ' prefix.",
    );
  }
  if (expiresOnTimestamp !== undefined && !Number.isFinite(expiresOnTimestamp)) {
    throw new AdrError(
      "ADR_INVALID_OPTIONS",
      "staticTokenCredential expiresOnTimestamp must be milliseconds since the Unix epoch (a finite number).",
    );
  }
  return {
    getToken: async (): Promise<AccessToken> => ({
      token,
      expiresOnTimestamp: expiresOnTimestamp ?? Date.now() + DEFAULT_STATIC_LIFETIME_MS,
      tokenType: "Bearer",
    }),
  };
}

/** Wraps `credential` so that a failure to get a token becomes `ADR_CREDENTIAL_FAILED`. */
export function guardedCredential(credential: TokenCredential): TokenCredential {
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      const scopeText = Array.isArray(scopes) ? scopes.join(" ") : scopes;
      let token: AccessToken | null;
      try {
        token = await credential.getToken(scopes, options);
      } catch (error) {
        if (isAdrError(error) || options?.abortSignal?.aborted === true) throw error;
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        throw new AdrError(
          "ADR_CREDENTIAL_FAILED",
          `Could not get an access token for ${scopeText} (${reason}). With DefaultAzureCredential sign in ` +
            "(`az login`) or configure a managed identity or service principal; with the simulator use the token from its sim.json.",
          { cause: error },
        );
      }
      if (token === null || typeof token?.token !== "string" || token.token.length === 0) {
        throw new AdrError(
          "ADR_CREDENTIAL_FAILED",
          `The credential returned no access token for ${scopeText}; check that it can issue tokens for Azure Resource Manager.`,
        );
      }
      return token;
    },
  };
}
