// Mounts the app into index.html's #root (loaded by main.tsx once the settings are asked for).
import { createRoot } from 'react-dom/client';
import { App } from './App';

const root = document.getElementById('root');
if (root) createRoot(root).render(<App />);
