/** Who is signed in, shared by every screen. */
import { createContext, useContext } from 'react';
import type { Principal } from './types';

export interface Session {
  user: Principal;
  signOut: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in screen');
  return s;
}
