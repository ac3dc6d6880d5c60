import { Empty } from '../components/ui';
import { Link } from '../router';

export function NotFoundPage({ what }: { what?: string }) {
  return (
    <div className="page">
      <Empty title="Nothing here">
        {what ?? 'This page does not exist.'} <Link to="/workspaces">Back to workspaces</Link>
      </Empty>
    </div>
  );
}
