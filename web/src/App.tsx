import { lazy, Suspense, useState } from 'react';
import { QueryClientProvider } from '@tanstack/react-query';
import { createBrowserRouter, RouterProvider, useRouteError, Link } from 'react-router';
import { makeQueryClient } from './api/hooks';
import { Layout } from './components/Layout';
import { Loading, ErrorState } from './components/States';
import { DashboardPage } from './pages/dashboard/DashboardPage';

// Every page but the dashboard is its own chunk, loaded when first opened:
// the initial bundle stays small (the graph library only comes with Data flow).
const ConnectorsPage = lazy(() => import('./pages/connectors/ConnectorsPage'));
const ConnectorPage = lazy(() => import('./pages/connectors/ConnectorPage'));
const MappingsPage = lazy(() => import('./pages/mappings/MappingsPage'));
const MappingPage = lazy(() => import('./pages/mappings/MappingPage'));
const LinkingPage = lazy(() => import('./pages/linking/LinkingPage'));
const PointsPage = lazy(() => import('./pages/points/PointsPage'));
const FlowPage = lazy(() => import('./pages/flow/FlowPage'));
const AuditPage = lazy(() => import('./pages/audit/AuditPage'));

function Page({ children }: { children: React.ReactNode }) {
  return <Suspense fallback={<Loading what="the page" />}>{children}</Suspense>;
}

function RouteError() {
  const error = useRouteError();
  return (
    <div className="page">
      <ErrorState error={error} what="this page" retry={() => window.location.reload()} />
      <Link to="/">Back to the dashboard</Link>
    </div>
  );
}

function NotFound() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        There is no page at this address. <Link to="/">Back to the dashboard</Link>
      </p>
    </div>
  );
}

// Made when the app first renders: after the login callback has put the
// page's own address back (history.replaceState), which the router reads.
const makeRouter = () => createBrowserRouter([
  {
    element: <Layout />,
    errorElement: <RouteError />,
    children: [
      { index: true, element: <DashboardPage /> },
      { path: 'connectors', element: <Page><ConnectorsPage /></Page> },
      { path: 'connectors/new', element: <Page><ConnectorPage mode="new" /></Page> },
      { path: 'connectors/:id', element: <Page><ConnectorPage mode="edit" /></Page> },
      { path: 'mappings', element: <Page><MappingsPage /></Page> },
      { path: 'mappings/new', element: <Page><MappingPage mode="new" /></Page> },
      { path: 'mappings/:id', element: <Page><MappingPage mode="edit" /></Page> },
      { path: 'linking', element: <Page><LinkingPage /></Page> },
      { path: 'points', element: <Page><PointsPage /></Page> },
      { path: 'flow', element: <Page><FlowPage /></Page> },
      { path: 'audit', element: <Page><AuditPage /></Page> },
      { path: '*', element: <NotFound /> },
    ],
  },
]);

const queryClient = makeQueryClient();

export function App() {
  const [router] = useState(makeRouter);
  return (
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  );
}
