import 'tokengate/styles.css';

export const metadata = { title: 'Tokengate consumer (Next.js)' };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
