/** Sign-in with an API token (the admin token `npm start` prints, or a user's token). */
import { useState, type FormEvent } from 'react';
import { ApiError, whoAmI } from '../api';
import { Field, Notice } from '../components/ui';
import type { Principal } from '../types';

export function SignInPage({ onSignedIn }: { onSignedIn: (token: string, who: Principal) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(token.trim(), await whoAmI(token.trim()));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'This token is not valid. Check it and try again.' : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="signin">
      <form className="signin-card" onSubmit={submit}>
        <div className="signin-brand">
          <svg viewBox="0 0 32 32" width="40" height="40" aria-hidden>
            <rect width="32" height="32" rx="7" fill="currentColor" />
            <path d="M9 23 L16 9 L23 23" stroke="white" strokeWidth="3" fill="none" strokeLinecap="round" strokeLinejoin="round" />
          </svg>
          <h1>Sign in to Runway</h1>
          <p>Terraform runs for your team, with run tasks and live logs.</p>
        </div>
        <Field label="API token" hint="The admin token printed at start-up, or a token an admin created for you." htmlFor="token">
          <input id="token" name="token" type="password" autoComplete="current-password" value={token} onChange={(e) => setToken(e.target.value)} placeholder="rwadmin_…" required />
        </Field>
        {error && <Notice tone="danger">{error}</Notice>}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
