import { h } from 'preact';
import htm from 'htm';

// JSX-like templates without a compile step; every ${value} is rendered as text.
export const html = htm.bind(h);
