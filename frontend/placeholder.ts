/**
 * Product pictures as SVG tiles drawn from the product's image name: the shop ships no
 * binary assets and loads nothing from the internet, so every page renders offline.
 */
import { createHash } from 'node:crypto';

const PALETTE = ['#1f4e79', '#7a3e00', '#2d6a4f', '#6a1b4d', '#3d405b', '#7f5539', '#005f73', '#9b2226'];

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function placeholderSvg(name: string): string {
  const hash = createHash('sha256').update(name).digest();
  const color = PALETTE[(hash[0] ?? 0) % PALETTE.length];
  const words = name.split(/[-_\s]+/).filter(Boolean);
  const initials = escapeXml(words.slice(0, 2).map((w) => w[0]?.toUpperCase() ?? '').join(''));
  const rotation = (hash[1] ?? 0) % 45;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" role="img">
<rect width="400" height="300" fill="${color}"/>
<circle cx="320" cy="60" r="110" fill="#ffffff" opacity="0.08"/>
<rect x="40" y="170" width="160" height="160" rx="24" fill="#ffffff" opacity="0.07" transform="rotate(${rotation} 120 250)"/>
<text x="200" y="175" font-family="system-ui, sans-serif" font-size="96" font-weight="700" fill="#ffffff" text-anchor="middle">${initials}</text>
</svg>`;
}
