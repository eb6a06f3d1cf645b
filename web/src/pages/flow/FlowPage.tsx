// The data flow: sources → connectors → Valkey → IEC 104 servers → SCADA
// masters, coloured by live status (refreshed every 2 s); a node opens its
// page (click, or Enter on the focused node).

import { useMemo } from 'react';
import { useQueries } from '@tanstack/react-query';
import { Background, Controls, Handle, Position, ReactFlow, type Edge, type Node, type NodeProps } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { Link, useNavigate } from 'react-router';
import { get } from '../../api/client';
import { keys, useConnectors, useMappings, useStatus } from '../../api/hooks';
import type { Links } from '../../api/types';
import { PageHeader } from '../../components/Layout';
import { Empty, ErrorState, Loading } from '../../components/States';
import { buildFlowGraph, COLUMN_TITLES, COLUMN_WIDTH, type FlowNode } from '../../lib/flowgraph';

type FlowData = { node: FlowNode };

function FlowNodeView({ data }: NodeProps<Node<FlowData>>) {
  const n = data.node;
  return (
    <div className={`flow-node tone-border-${n.tone}`}>
      {n.column > 0 && <Handle type="target" position={Position.Left} />}
      <div className="flow-node-label" title={n.label}>{n.label}</div>
      <div className="flow-node-detail">{n.detail}</div>
      {n.column < 4 && <Handle type="source" position={Position.Right} />}
    </div>
  );
}

const nodeTypes = { flow: FlowNodeView };

export default function FlowPage() {
  const connectors = useConnectors();
  const status = useStatus(2_000);
  const mappings = useMappings();
  const navigate = useNavigate();
  const mqtt = (connectors.data ?? []).filter((c) => c.kind === 'mqtt');
  const links = useQueries({
    queries: mqtt.map((c) => ({
      queryKey: keys.links(c.id),
      queryFn: ({ signal }: { signal: AbortSignal }) => get<Links>(`/api/v1/connectors/${encodeURIComponent(c.id)}/mappings`, signal),
    })),
  });
  const linkMap = useMemo(() => {
    const m: Record<string, string[]> = {};
    mqtt.forEach((c, i) => {
      m[c.id] = links[i]?.data?.mappings ?? [];
    });
    return m;
  }, [mqtt, links]);

  const graph = useMemo(
    () => buildFlowGraph({ connectors: connectors.data ?? [], status: status.data ?? [], mappings: mappings.data ?? [], links: linkMap }),
    [connectors.data, status.data, mappings.data, linkMap],
  );
  const nodes: Node<FlowData>[] = graph.nodes.map((n) => ({
    id: n.id,
    type: 'flow',
    position: n.position,
    data: { node: n },
    draggable: false,
    connectable: false,
    ariaLabel: `${n.label}: ${n.detail}, status ${n.tone}. Press Enter to open.`,
  }));
  const edges: Edge[] = graph.edges.map((e) => ({ id: e.id, source: e.source, target: e.target, animated: e.live, className: `edge-${e.tone}` }));

  const loading = connectors.isPending || status.isPending || mappings.isPending;
  const error = connectors.error ?? status.error ?? mappings.error;
  return (
    <div className="page page-fill">
      <PageHeader title="Data flow" />
      {loading ? (
        <Loading what="the data flow" />
      ) : error ? (
        <ErrorState error={error} what="the data flow" retry={() => { void connectors.refetch(); void status.refetch(); void mappings.refetch(); }} />
      ) : graph.nodes.length <= 1 ? (
        <Empty>
          Nothing flows yet: no connectors. <Link to="/connectors/new">Create one</Link>.
        </Empty>
      ) : (
        <>
          <div className="flow-columns" aria-hidden="true">
            {COLUMN_TITLES.map((t, i) => (
              <span key={t} style={{ left: i * COLUMN_WIDTH }}>
                {t}
              </span>
            ))}
          </div>
          <div className="flow-canvas">
            <ReactFlow
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              fitView
              fitViewOptions={{ maxZoom: 1 }}
              nodesDraggable={false}
              nodesConnectable={false}
              proOptions={{ hideAttribution: false }}
              onNodeClick={(_, n) => navigate((n.data as FlowData).node.href)}
              onKeyDown={(e) => {
                const id = (e.target as HTMLElement).closest('[data-id]')?.getAttribute('data-id');
                const n = id ? graph.nodes.find((x) => x.id === id) : undefined;
                if (e.key === 'Enter' && n) navigate(n.href);
              }}
            >
              <Background />
              <Controls showInteractive={false} />
            </ReactFlow>
          </div>
          <details className="flow-list">
            <summary>The same as a list</summary>
            <ul>
              {graph.nodes.map((n) => (
                <li key={n.id}>
                  <Link to={n.href}>{n.label}</Link> — {n.detail} ({n.tone})
                </li>
              ))}
            </ul>
          </details>
        </>
      )}
    </div>
  );
}
