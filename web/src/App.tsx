/** The shell: sign-in gate, top navigation, and the screens by path. */
import { useCallback, useEffect, useState } from 'react';
import { getToken, setToken, setUnauthorizedHandler, whoAmI } from './api';
import { Spinner } from './components/ui';
import { AdminRunTasksPage } from './pages/AdminRunTasks';
import { NotFoundPage } from './pages/NotFound';
import { RunPage } from './pages/Run';
import { SignInPage } from './pages/SignIn';
import { SystemPage } from './pages/System';
import { WorkspacePage } from './pages/Workspace';
import { WorkspacesPage } from './pages/Workspaces';
import { Link, match, navigate, useLocation } from './router';
import { SessionContext } from './session';
import type { Principal } from './types';

export function App() {
  const [user, setUser] = useState<Principal | null>(null);
  const [checking, setChecking] = useState(() => getToken() !== null);
  const loc = useLocation();

  const signOut = useCallback(() => {
    setToken(null);
    setUser(null);
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(signOut);
    const token = getToken();
    if (!token) return;
    whoAmI(token)
      .then(setUser)
      .catch(() => setToken(null))
      .finally(() => setChecking(false));
  }, [signOut]);

  if (checking) {
    return (
      <div className="center-screen">
        <Spinner label="Loading…" />
      </div>
    );
  }
  if (!user) {
    return (
      <SignInPage
        onSignedIn={(token, who) => {
          setToken(token);
          setUser(who);
          if (loc.path === '/' || loc.path === '/sign-in') navigate('/workspaces', { replace: true });
        }}
      />
    );
  }

  return (
    <SessionContext.Provider value={{ user, signOut }}>
      <div className="app">
        <TopBar user={user} path={loc.path} onSignOut={signOut} />
        <main className="main">
          <Screen path={loc.path} query={loc.query} isAdmin={user.role === 'admin'} />
        </main>
      </div>
    </SessionContext.Provider>
  );
}

function TopBar({ user, path, onSignOut }: { user: Principal; path: string; onSignOut: () => void }) {
  const item = (to: string, label: string, prefix = to) => (
    <Link to={to} className={`nav-link${path.startsWith(prefix) ? ' active' : ''}`}>
      {label}
    </Link>
  );
  return (
    <header className="topbar">
      <div className="topbar-inner">
        <Link to="/workspaces" className="brand">
          <svg viewBox="0 0 32 32" width="26" height="26" aria-hidden>
            <rect width="32" height="32" rx="7" fill="currentColor" />
            <path d="M9 23 L16 9 L23 23" stroke="white" strokeWidth="3" fill="none" strokeLinecap="round" strokeLinejoin="round" />
          </svg>
          <span>Runway</span>
        </Link>
        <nav className="nav">
          {item('/workspaces', 'Workspaces')}
          {user.role === 'admin' && item('/admin/run-tasks', 'Run tasks', '/admin')}
          {item('/system', 'System')}
        </nav>
        <div className="user">
          <span className="avatar" aria-hidden>
            {user.username.slice(0, 1).toUpperCase()}
          </span>
          <span className="user-name" data-testid="current-user">
            {user.username}
          </span>
          <span className="user-role">{user.role}</span>
          <button type="button" className="btn btn-ghost btn-sm" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </div>
    </header>
  );
}

function Screen({ path, query, isAdmin }: { path: string; query: URLSearchParams; isAdmin: boolean }) {
  if (path === '/' || path === '/sign-in') return <Redirect to="/workspaces" />;
  if (path === '/workspaces') return <WorkspacesPage />;
  let p = match('/workspaces/:workspace/tasks/:task', path) ?? match('/workspaces/:workspace/runs/:task', path);
  if (p) return <RunPage key={p.task} workspace={p.workspace} taskId={Number(p.task)} />;
  p = match('/workspaces/:workspace', path);
  if (p) return <WorkspacePage key={p.workspace} workspace={p.workspace} tab={query.get('tab') ?? 'runs'} section={query.get('section')} />;
  if (path === '/admin/run-tasks') return isAdmin ? <AdminRunTasksPage /> : <NotFoundPage what="This page needs the admin role." />;
  if (path === '/system') return <SystemPage />;
  return <NotFoundPage />;
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}
