/** Sign-in with an API token (the admin token `npm start` prints, or a user's token). */
import { useState } from 'react';
import { ApiError, whoAmI } from '../api';
import { ErrorNotice, Field } from '../components/ui';
import { useSubmit } from '../hooks';
import type { Principal } from '../types';

export function SignInPage({ onSignedIn }: { onSignedIn: (token: string, who: Principal) => void }) {
  const [token, setToken] = useState('');
  const { busy, error, onSubmit } = useSubmit(async () => {
    const who = await whoAmI(token.trim()).catch((err: unknown) => {
      throw err instanceof ApiError && err.status === 401 ? new Error('This token is not valid. Check it and try again.') : err;
    });
    onSignedIn(token.trim(), who);
  });

  return (
    <div className="signin">
      <form className="signin-card" onSubmit={onSubmit}>
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
        <ErrorNotice error={error} />
        <button type="submit" className="btn btn-primary btn-block" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
