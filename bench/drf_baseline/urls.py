"""Routes of the DRF baseline: `/contacts/` and `/contacts/{pk}/`."""

from rest_framework.routers import SimpleRouter

from bench.drf_baseline.views import ContactViewSet

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="contact")

urlpatterns = router.urls
