// Starts Swagger UI on /docs (api/docs.py). A file, not an inline script: the page's policy runs
// scripts from this origin only.

const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.openapi,
  domNode: root,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // The default would show a badge loaded from the public validator, sending it the document.
  validatorUrl: null,
});
