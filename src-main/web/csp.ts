/**
 * The page may load only the app's own code; Svelte sets inline styles, scripts stay 'self'.
 * Served as a header by web mode and by Electron's app:// protocol, and (less frame-ancestors,
 * which a meta tag cannot carry) as a meta tag in src-renderer/index.html; a test keeps the three equal.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')
