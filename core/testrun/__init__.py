"""The test pipeline's pure parts: project detection, result and coverage parsing, diff coverage."""
