import { useMe } from '../api/hooks';
import type { Role } from '../api/types';

export interface Access {
  user: string | null;
  role: Role | null;
  /** Engineer or admin: may create, change and delete. */
  canEdit: boolean;
  /** Admin: may restore versions and read the audit log. */
  isAdmin: boolean;
  known: boolean;
}

export function useAccess(): Access {
  const me = useMe();
  const role = me.data?.role ?? null;
  return {
    user: me.data?.user ?? null,
    role,
    canEdit: role === 'engineer' || role === 'admin',
    isAdmin: role === 'admin',
    known: me.isSuccess,
  };
}
