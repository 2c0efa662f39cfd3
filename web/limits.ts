/**
 * The most nodes (components and parameters) the graph view lays out. dagre's layered layout runs on the page's
 * one thread and grows much faster than the graph (bench/ui.ts: 100 components with their parameters in about
 * 0.4 s, 500 in 11 s), and a drawing that large is unreadable anyway. Beyond it, the view draws the neighbourhood
 * of the component picked in the list (or under Neighbourhood), and says so.
 */
export const MAX_DRAWN = 150;
