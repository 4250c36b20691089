import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { vaultStatus } from './backend/ipc';

// The bundle's modules are evaluated (imports run first): BENCHMARKS.md splits the start by
// the app's marks.
performance.mark('keyward:script');

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

// Asked before the page's first style, layout and paint (tens of milliseconds in which no script
// runs): the answer is waiting when they are done.
const firstStatus = vaultStatus();
firstStatus.catch(() => undefined);
export default mount(App, { target, props: { firstStatus } });
