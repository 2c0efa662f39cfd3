/** A message about something that went wrong, announced to screen readers; nothing without one. */
export function Alert({ message }: { readonly message: string | undefined }) {
  if (!message) return null;
  return (
    <p class="alert" role="alert">
      {message}
    </p>
  );
}
