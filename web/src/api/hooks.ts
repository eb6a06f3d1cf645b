// Server state: TanStack Query owns fetching, caching, retries and the
// invalidation after writes; pages only ask.

import { QueryClient, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, get, request } from './client';
import type {
  AddressRange,
  AuditEntry,
  Connector,
  DryRunResult,
  EffectiveConfig,
  Json,
  KindSchema,
  Links,
  Mapping,
  MappingBody,
  Me,
  StatusEntry,
  VersionDetail,
  VersionSummary,
} from './types';

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 5_000,
        // A 4xx will not change by asking again.
        retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
        refetchOnWindowFocus: true,
      },
    },
  });
}

const enc = encodeURIComponent;

export const keys = {
  me: ['me'] as const,
  kinds: ['kinds'] as const,
  connectors: ['connectors'] as const,
  connector: (id: string) => ['connectors', id] as const,
  config: (id: string) => ['connectors', id, 'config'] as const,
  versions: (id: string) => ['connectors', id, 'versions'] as const,
  version: (id: string, n: number) => ['connectors', id, 'versions', n] as const,
  links: (id: string) => ['connectors', id, 'links'] as const,
  status: ['status'] as const,
  mappings: ['mappings'] as const,
  mapping: (id: string) => ['mappings', id] as const,
  addresses: ['addresses'] as const,
  audit: (actor: string, since: string) => ['audit', actor, since] as const,
};

export const useMe = () => useQuery({ queryKey: keys.me, queryFn: ({ signal }) => get<Me>('/api/v1/me', signal), staleTime: 60_000 });
export const useKinds = () =>
  useQuery({ queryKey: keys.kinds, queryFn: ({ signal }) => get<KindSchema[]>('/api/v1/kinds', signal), staleTime: 300_000 });
export const useConnectors = () =>
  useQuery({ queryKey: keys.connectors, queryFn: ({ signal }) => get<Connector[]>('/api/v1/connectors', signal) });
export const useConnector = (id: string) =>
  useQuery({ queryKey: keys.connector(id), queryFn: ({ signal }) => get<Connector>(`/api/v1/connectors/${enc(id)}`, signal) });
export const useEffectiveConfig = (id: string) =>
  useQuery({
    queryKey: keys.config(id),
    queryFn: ({ signal }) => get<EffectiveConfig>(`/api/v1/connectors/${enc(id)}/config`, signal),
    refetchInterval: 5_000,
  });
export const useVersions = (id: string) =>
  useQuery({ queryKey: keys.versions(id), queryFn: ({ signal }) => get<VersionSummary[]>(`/api/v1/connectors/${enc(id)}/versions`, signal) });
export const useVersion = (id: string, n: number | null) =>
  useQuery({
    queryKey: keys.version(id, n ?? 0),
    queryFn: ({ signal }) => get<VersionDetail>(`/api/v1/connectors/${enc(id)}/versions/${n}`, signal),
    enabled: n !== null,
    staleTime: Infinity,
  });
export const useLinks = (id: string, enabled = true) =>
  useQuery({ queryKey: keys.links(id), queryFn: ({ signal }) => get<Links>(`/api/v1/connectors/${enc(id)}/mappings`, signal), enabled });
export const useStatus = (refetchInterval: number | false = 2_000) =>
  useQuery({ queryKey: keys.status, queryFn: ({ signal }) => get<StatusEntry[]>('/api/v1/status', signal), refetchInterval });
export const useMappings = () =>
  useQuery({ queryKey: keys.mappings, queryFn: ({ signal }) => get<Mapping[]>('/api/v1/mappings', signal) });
export const useMapping = (id: string) =>
  useQuery({ queryKey: keys.mapping(id), queryFn: ({ signal }) => get<Mapping>(`/api/v1/mappings/${enc(id)}`, signal) });
export const useAddresses = () =>
  useQuery({ queryKey: keys.addresses, queryFn: ({ signal }) => get<AddressRange[]>('/api/v1/addresses', signal) });
export const useAudit = (actor: string, since: string, enabled: boolean) =>
  useQuery({
    queryKey: keys.audit(actor, since),
    queryFn: ({ signal }) => {
      const q = new URLSearchParams({ limit: '200' });
      if (actor) q.set('actor', actor);
      if (since) q.set('since', new Date(since).toISOString());
      return get<AuditEntry[]>(`/api/v1/audit?${q}`, signal);
    },
    enabled,
  });

export interface ConnectorWrite {
  name: string;
  description: string;
  enabled: boolean;
  settings: Connector['settings'];
}

/** Writes invalidate what they change: the entity, its lists, the status and addresses. */
function useInvalidate() {
  const qc = useQueryClient();
  return (...prefixes: readonly (readonly unknown[])[]) =>
    Promise.all(prefixes.map((queryKey) => qc.invalidateQueries({ queryKey })));
}

export function useCreateConnector() {
  const inv = useInvalidate();
  return useMutation({
    mutationFn: (body: ConnectorWrite & { id: string; kind: string }) =>
      request<Connector>('/api/v1/connectors', { method: 'POST', body }).then((r) => r.data),
    onSuccess: () => inv(keys.connectors, keys.status, keys.addresses),
  });
}

export function useUpdateConnector(id: string) {
  const inv = useInvalidate();
  return useMutation({
    mutationFn: ({ body, version }: { body: ConnectorWrite; version: number }) =>
      request<Connector>(`/api/v1/connectors/${enc(id)}`, { method: 'PUT', body, version }).then((r) => r.data),
    onSuccess: () => inv(keys.connectors, keys.status, keys.addresses),
  });
}

export function useDeleteConnector(id: string) {
  const inv = useInvalidate();
  return useMutation({
    mutationFn: (version: number) => request<void>(`/api/v1/connectors/${enc(id)}`, { method: 'DELETE', version }),
    onSuccess: () => inv(keys.connectors, keys.status, keys.addresses),
  });
}

export function useRestoreVersion(id: string) {
  const inv = useInvalidate();
  return useMutation({
    mutationFn: ({ n, version }: { n: number; version: number }) =>
      request<Connector>(`/api/v1/connectors/${enc(id)}/versions/${n}/restore`, { method: 'POST', version }).then((r) => r.data),
    onSuccess: () => inv(keys.connectors, keys.mappings, keys.status, keys.addresses),
  });
}

export function useSaveLinks(id: string) {
  const inv = useInvalidate();
  return useMutation({
    mutationFn: ({ mappings, version }: { mappings: string[]; version: number }) =>
      request<Links>(`/api/v1/connectors/${enc(id)}/mappings`, { method: 'PUT', body: { mappings }, version }).then((r) => r.data),
    onSuccess: () => inv(keys.connector(id), keys.connectors, keys.addresses, keys.status),
  });
}

export function useCreateMapping() {
  const inv = useInvalidate();
  return useMutation({
    mutationFn: (body: MappingBody) => request<Mapping>('/api/v1/mappings', { method: 'POST', body }).then((r) => r.data),
    onSuccess: () => inv(keys.mappings, keys.addresses),
  });
}

export function useUpdateMapping(id: string) {
  const inv = useInvalidate();
  return useMutation({
    mutationFn: ({ body, version }: { body: MappingBody; version: number }) =>
      request<Mapping>(`/api/v1/mappings/${enc(id)}`, { method: 'PUT', body, version }).then((r) => r.data),
    onSuccess: () => inv(keys.mappings, keys.addresses, keys.connectors),
  });
}

export function useDeleteMapping(id: string) {
  const inv = useInvalidate();
  return useMutation({
    mutationFn: (version: number) => request<void>(`/api/v1/mappings/${enc(id)}`, { method: 'DELETE', version }),
    onSuccess: () => inv(keys.mappings, keys.addresses),
  });
}

export function useDryRun() {
  return useMutation({
    mutationFn: (body: { mapping: Partial<MappingBody>; sample: { topic: string; payload: Json } }) =>
      request<DryRunResult>('/api/v1/mappings/dry-run', { method: 'POST', body }).then((r) => r.data),
  });
}
