/** @type {import('next').NextConfig} */
export default {
  // No network in CI: no telemetry, no remote fonts or images.
  images: { unoptimized: true },
  // `pg` stays a Node.js require in the route bundle.
  serverExternalPackages: ['pg'],
};
