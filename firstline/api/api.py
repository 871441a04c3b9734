from ninja import NinjaAPI

api = NinjaAPI(title="firstline API", version="1")
